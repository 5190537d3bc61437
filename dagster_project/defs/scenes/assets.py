"""scene_table: two-level scene detection, one row per scene, short scenes flagged."""


import time

import dagster as dg
import pandas as pd

from dagster_project.defs.ingest.assets import iframe_index, source_rel
from dagster_project.defs.metadata import md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from video_assets.keyframes import build_index
from video_assets.scenes import detect_scenes


@dg.asset(
    partitions_def=videos,
    deps=[iframe_index],
    group_name="video",
    kinds={"pyscenedetect", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "scenes"},
)
def scene_table(
    context: dg.AssetExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.MaterializeResult:
    """Scenes from a keyframe-level pass plus PySceneDetect where cuts may be; short scenes kept and flagged."""
    root = store.root()
    vid = context.partition_key
    settings = video_config.detector_settings()
    t0 = time.monotonic()

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - t0
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else float("nan")
        context.log.info(f"scene detection: {done}/{total} frames, {rate:.0f} frames/s, ~{left:.0f} s left")

    with root.local_copy(source_rel(root, vid)) as local:
        index = build_index(local)
        result = detect_scenes(str(local), mode=video_config.scene_mode, detector=settings,  # type: ignore[arg-type]
                               index=index, progress=progress)
    df = pd.DataFrame([{
        "video_id": vid, "scene_index": s.index, "start_frame": s.start_frame, "end_frame": s.end_frame,
        "start_s": round(s.start_s, 6), "end_s": round(s.end_s, 6), "duration_s": round(s.duration_s, 6),
        "is_short": s.duration_s < video_config.min_clip_s, "detector": settings.detector, "mode": result.mode,
    } for s in result.scenes])
    root.write_table("scenes", vid, df)
    return dg.MaterializeResult(metadata={
        "scenes": len(df),
        "short_scenes": int(df["is_short"].sum()),
        "mode": result.mode,
        "frames_decoded": result.frames_decoded,
        "share_decoded": round(result.frames_decoded / max(result.frame_count, 1), 4),
        "elapsed_s": round(result.elapsed_s, 3),
        "level1": dg.MetadataValue.json(result.level1),
        "preview": md_table(df.drop(columns=["video_id", "detector", "mode"])),
    })
