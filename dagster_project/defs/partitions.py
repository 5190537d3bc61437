"""One partition per video, keyed by its content-derived id."""

import dagster as dg

videos = dg.DynamicPartitionsDefinition(name="videos")
