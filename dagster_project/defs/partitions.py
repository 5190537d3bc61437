"""One partition per video, keyed by its content-derived id."""

import dagster as dg

VIDEOS = "videos"
videos = dg.DynamicPartitionsDefinition(name=VIDEOS)
