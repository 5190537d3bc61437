"""The scene stage over the data root: a stored video's scenes, detected, tabled and pictured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from video_assets.clips import MIN_CLIP_S
from video_assets.keyframes import build_index
from video_assets.layout import preview_rel, source_rel
from video_assets.progress import Progress, Sink
from video_assets.scenes.detect import Mode, SceneResult, detect_scenes
from video_assets.scenes.detectors import DetectorSettings
from video_assets.store import DataRoot
from video_assets.visuals import contact_sheet, png_markdown

CONTACT_SHEET = "contact_sheet.png"


@dataclass(frozen=True)
class VideoScenes:
    """The scenes of one stored video.

    Attributes:
        video_id: The video.
        result: What detection found, and how.
        min_clip_s: Scenes shorter than this are flagged ``is_short`` (no clip is cut).
        preview: The stored contact sheet, one thumbnail per scene (relative path).
        preview_markdown: That picture, inline, as Markdown.
    """

    video_id: str
    result: SceneResult
    min_clip_s: float
    preview: str
    preview_markdown: str

    def frame(self) -> pd.DataFrame:
        """The rows of the ``scenes`` table, one per scene; short scenes kept and flagged."""
        return pd.DataFrame(
            [
                {
                    "video_id": self.video_id,
                    "scene_index": s.index,
                    "start_frame": s.start_frame,
                    "end_frame": s.end_frame,
                    "start_s": round(s.start_s, 6),
                    "end_s": round(s.end_s, 6),
                    "duration_s": round(s.duration_s, 6),
                    "is_short": s.duration_s < self.min_clip_s,
                    "detector": self.result.detector.detector,
                    "mode": self.result.mode,
                }
                for s in self.result.scenes
            ]
        )

    def summary(self) -> dict[str, Any]:
        """Counts a person wants to see about the detection (``level1`` as a plain dict)."""
        r = self.result
        return {
            "scenes": len(r.scenes),
            "short_scenes": sum(s.duration_s < self.min_clip_s for s in r.scenes),
            "mode": r.mode,
            "frames_decoded": r.frames_decoded,
            "share_decoded": round(r.frames_decoded / max(r.frame_count, 1), 4),
            "elapsed_s": round(r.elapsed_s, 3),
            "level1": r.level1,
            "damaged_frames": len(r.damaged_frames),
        }


def detect_video_scenes(
    root: DataRoot,
    video_id: str,
    settings: DetectorSettings,
    *,
    mode: str = "cascade",
    min_clip_s: float = MIN_CLIP_S,
    log: Sink | None = None,
) -> VideoScenes:
    """Detect the scenes of the stored ``video_id`` and store a contact sheet of them.

    Args:
        root: The data root.
        video_id: A video whose source is stored.
        settings: Which detector, with what parameters.
        mode: ``cascade`` or ``full`` (see :func:`detect_scenes`).
        min_clip_s: Scenes shorter than this are flagged and left off the contact sheet.
        log: Receives a progress line at most every 10 s.
    """
    preview = preview_rel(video_id, CONTACT_SHEET)
    with root.local_copy(source_rel(root, video_id)) as local:
        index = build_index(local)
        with Progress(
            index.frame_count, "frames", "scene detection", sink=log, min_interval_s=10.0
        ) as progress:
            result = detect_scenes(
                str(local),
                mode=cast(Mode, mode),  # validated by detect_scenes
                detector=settings,
                index=index,
                progress=progress,
            )
        with root.atomic_file(preview) as png:
            contact_sheet(
                local, result.scenes, png, min_duration_s=min_clip_s, index=index, title=video_id
            )
            markdown = png_markdown(png, f"scenes of {video_id}")
    return VideoScenes(video_id, result, min_clip_s, preview, markdown)
