"""video-assets: long-form video to training data."""
