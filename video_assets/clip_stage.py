"""The clip stage over the data root: a stored video's scenes cut into clip files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from video_assets.clips import Clip, ClipSettings, clips_frame, split_video
from video_assets.keyframes import build_index
from video_assets.layout import clip_dir, preview_rel, source_rel
from video_assets.probe import probe
from video_assets.scenes import Scene
from video_assets.store import DataRoot
from video_assets.visuals import clip_boundary_strip, png_markdown

BOUNDARY_PREVIEW = "clip_boundaries.png"


@dataclass(frozen=True)
class VideoClips:
    """The clips of one video as stored.

    Attributes:
        video_id: The video.
        folder: The folder holding the clip files, relative to the data root.
        clips: The clips in scene order.
        preview: The stored picture of the frames around a few cuts (relative path).
        preview_markdown: That picture, inline, as Markdown.
    """

    video_id: str
    folder: str
    clips: list[Clip]
    preview: str
    preview_markdown: str

    def frame(self) -> pd.DataFrame:
        """The rows of the ``clips`` table."""
        return clips_frame(self.video_id, self.clips, self.folder)

    def summary(self) -> dict[str, Any]:
        """Counts a person wants to see about the clips."""
        df = self.frame()
        return {
            "clips": len(df),
            "windowed_scenes": int(df.loc[df["window_index"] > 0, "scene_index"].nunique()),
            "longest_clip_s": round(float(df["duration_s"].max()), 3) if len(df) else 0.0,
            "stream_copied": int((df["method"] == "copy").sum()),
            "reencoded": int((df["method"] == "reencode").sum()),
            "leaked_frames": int(df["leaked_frames"].sum()),
            "lost_frames": int(df["lost_frames"].sum()),
            "damaged_frames": int(df["damaged_frames"].sum()),
            "matroska_clips": int((df["container"] == "mkv").sum()),
            "clip_seconds": round(float(df["duration_s"].sum()), 3),
        }


def scenes_from_table(df: pd.DataFrame) -> list[Scene]:
    """Scenes from rows of the ``scenes`` table."""
    return [
        Scene(
            int(r.scene_index),
            int(r.start_frame),
            int(r.end_frame),
            float(r.start_s),
            float(r.end_s),
        )
        for r in df.itertuples()
    ]


def cut_video_clips(root: DataRoot, video_id: str, settings: ClipSettings) -> VideoClips:
    """Cut one clip per kept scene of the stored ``video_id`` (its ``scenes`` table) into
    the clip folder, replacing the folder whole, and store a picture of a few cuts."""
    scenes = scenes_from_table(root.read_table("scenes", video_id))
    folder = clip_dir(video_id)
    preview = preview_rel(video_id, BOUNDARY_PREVIEW)
    with root.local_copy(source_rel(root, video_id)) as local:
        index = build_index(local)
        has_audio = bool(probe(local).audio)
        with root.atomic_dir(folder) as tmp:
            clips = split_video(
                local,
                scenes,
                tmp,
                settings=settings,
                index=index,
                clip_prefix=f"{video_id}_",
                has_audio=has_audio,
            )
            # Drawn here, while the clip files are still local in `tmp` (any data root).
            with root.atomic_file(preview) as png:
                clip_boundary_strip(local, clips, scenes, png, index=index)
                markdown = png_markdown(png, f"frames around the cuts of {video_id}")
    return VideoClips(video_id, folder, clips, preview, markdown)
