"""Pictures and Markdown for people: contact sheets, cut strips, transcript quality, summaries.

Images are PNG, drawn with Pillow (frames) or Matplotlib's Agg canvas (plots), written
under a temporary name and renamed into place, without timestamps or tool names in their
metadata, so the same input gives the same bytes. :func:`png_markdown` embeds one in
Markdown for the Dagster UI. The token previews and training curves are in
:mod:`video_assets.tokens.report`.
"""

from video_assets.visuals.common import hms, png_markdown
from video_assets.visuals.grab import grab_frames
from video_assets.visuals.sheets import clip_boundary_strip, contact_sheet, thumbnail_frame
from video_assets.visuals.summary import catalog_summary_markdown
from video_assets.visuals.transcript import confidence_plot, transcript_markdown

__all__ = [
    "catalog_summary_markdown",
    "clip_boundary_strip",
    "confidence_plot",
    "contact_sheet",
    "grab_frames",
    "hms",
    "png_markdown",
    "thumbnail_frame",
    "transcript_markdown",
]
