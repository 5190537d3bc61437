"""Resources: where data lives and the settings of each stage, configured through EnvVar."""

from __future__ import annotations

import dagster as dg

from video_assets.clips import ClipSettings
from video_assets.scenes import DetectorSettings
from video_assets.store import DataRoot


class StoreResource(dg.ConfigurableResource):
    """The data root (local folder or fsspec URL) and the landing folder the sensor watches."""

    data_root: str
    landing_dir: str
    settle_s: float = 10.0
    """A landing file is ingested only once its size and mtime have not changed for this long."""

    def root(self) -> DataRoot:
        return DataRoot(self.data_root)


class VideoStageConfig(dg.ConfigurableResource):
    """Settings of the scene and clip stages (see README, Configuration)."""

    scene_mode: str = "cascade"
    detector: str = "content"
    threshold: float | None = None
    min_scene_len: int = 15
    split_mode: str = "copy"
    min_clip_s: float = 3.0
    max_lost_share: float = 0.5
    max_short_share: float = 0.5

    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(detector=self.detector, threshold=self.threshold, min_scene_len=self.min_scene_len)  # type: ignore[arg-type]

    def clip_settings(self) -> ClipSettings:
        return ClipSettings(mode=self.split_mode, min_duration_s=self.min_clip_s)  # type: ignore[arg-type]


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources as deployed: every value comes from the environment at run time."""
    return {
        "store": StoreResource(
            data_root=dg.EnvVar("VIDEO_ASSETS_DATA_ROOT"),
            landing_dir=dg.EnvVar("VIDEO_ASSETS_LANDING_DIR"),
        ),
        "video_config": VideoStageConfig(),
    }
