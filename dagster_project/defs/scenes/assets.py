"""scene_table: two-level scene detection, one row per scene, short scenes flagged."""

import dagster as dg
import pandas as pd

from dagster_project.defs.ingest.assets import iframe_index, source_rel
from dagster_project.defs.metadata import md_table, stored_image
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from video_assets.keyframes import build_index
from video_assets.progress import Progress
from video_assets.scenes import detect_scenes
from video_assets.visuals import contact_sheet


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
    with root.local_copy(source_rel(root, vid)) as local:
        index = build_index(local)
        with Progress(
            index.frame_count,
            "frames",
            "scene detection",
            sink=context.log.info,
            min_interval_s=10.0,
        ) as progress:
            result = detect_scenes(
                str(local),
                mode=video_config.scene_mode,  # type: ignore[arg-type]  # validated by detect_scenes
                detector=settings,
                index=index,
                progress=progress,
            )
        sheet = stored_image(
            root,
            root.rel("previews", vid, "contact_sheet.png"),
            lambda out: contact_sheet(
                local,
                result.scenes,
                out,
                min_duration_s=video_config.min_clip_s,
                index=index,
                title=vid,
            ),
            f"scenes of {vid}",
        )
    df = pd.DataFrame(
        [
            {
                "video_id": vid,
                "scene_index": s.index,
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "start_s": round(s.start_s, 6),
                "end_s": round(s.end_s, 6),
                "duration_s": round(s.duration_s, 6),
                "is_short": s.duration_s < video_config.min_clip_s,
                "detector": settings.detector,
                "mode": result.mode,
            }
            for s in result.scenes
        ]
    )
    root.write_table("scenes", vid, df)
    return dg.MaterializeResult(
        metadata={
            "scenes": len(df),
            "short_scenes": int(df["is_short"].sum()),
            "mode": result.mode,
            "frames_decoded": result.frames_decoded,
            "share_decoded": round(result.frames_decoded / max(result.frame_count, 1), 4),
            "elapsed_s": round(result.elapsed_s, 3),
            "level1": dg.MetadataValue.json(result.level1),
            "damaged_frames": len(result.damaged_frames),
            "preview": md_table(df.drop(columns=["video_id", "detector", "mode"])),
            "contact_sheet": sheet,
        }
    )
