"""clips: one shot-pure file per kept scene, stream-copied where exact (MP4, or Matroska)."""

from pathlib import Path

import dagster as dg
import pandas as pd

from dagster_project.defs.ingest.assets import source_rel
from dagster_project.defs.metadata import md_table, stored_image
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from video_assets.clips import split_video
from video_assets.keyframes import build_index
from video_assets.probe import probe
from video_assets.scenes import Scene
from video_assets.visuals import clip_boundary_strip


@dg.asset(
    partitions_def=videos,
    deps=[scene_table],
    group_name="video",
    kinds={"ffmpeg", "mp4", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "clips"},
)
def clips(
    context: dg.AssetExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.MaterializeResult:
    """Cuts one clip per scene of at least the minimum length (long scenes into windows at keyframes); a clip never holds a frame of another shot."""
    root = store.root()
    vid = context.partition_key
    scenes_df = root.read_table("scenes", vid)
    scenes = [
        Scene(
            int(r.scene_index),
            int(r.start_frame),
            int(r.end_frame),
            float(r.start_s),
            float(r.end_s),
        )
        for r in scenes_df.itertuples()
    ]
    clip_dir = root.rel("clips", vid)
    with root.local_copy(source_rel(root, vid)) as local:
        index = build_index(local)
        has_audio = bool(probe(local).audio)
        with root.atomic_dir(clip_dir) as tmp:
            result = split_video(
                local,
                scenes,
                tmp,
                settings=video_config.clip_settings(),
                index=index,
                clip_prefix=f"{vid}_",
                has_audio=has_audio,
            )
            # Drawn here, while the clip files are still local in `tmp` (any data root).
            strip = stored_image(
                root,
                root.rel("previews", vid, "clip_boundaries.png"),
                lambda out: clip_boundary_strip(local, result, scenes, out, index=index),
                f"frames around the cuts of {vid}",
            )
    df = pd.DataFrame(
        [
            {
                "video_id": vid,
                "clip_id": c.clip_id,
                "scene_index": c.scene_index,
                "window_index": c.window_index,
                "path": f"{clip_dir}/{Path(c.path).name}",
                "scene_start_frame": c.scene_start_frame,
                "scene_end_frame": c.scene_end_frame,
                "start_frame": c.start_frame,
                "end_frame": c.end_frame,
                "start_s": round(c.start_s, 6),
                "end_s": round(c.end_s, 6),
                "duration_s": round(c.duration_s, 6),
                "method": c.method,
                "container": c.container,
                "leaked_frames": c.leaked_frames,
                "lost_frames": c.lost_frames,
                "damaged_frames": c.damaged_frames,
                "bytes": c.bytes,
            }
            for c in result
        ],
        columns=[
            "video_id",
            "clip_id",
            "scene_index",
            "window_index",
            "path",
            "scene_start_frame",
            "scene_end_frame",
            "start_frame",
            "end_frame",
            "start_s",
            "end_s",
            "duration_s",
            "method",
            "container",
            "leaked_frames",
            "lost_frames",
            "damaged_frames",
            "bytes",
        ],
    )
    root.write_table("clips", vid, df)
    return dg.MaterializeResult(
        metadata={
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
            "folder": dg.MetadataValue.path(root.uri(clip_dir)),
            "preview": md_table(
                df[
                    [
                        "clip_id",
                        "scene_index",
                        "window_index",
                        "start_s",
                        "end_s",
                        "method",
                        "container",
                        "leaked_frames",
                        "lost_frames",
                    ]
                ]
            ),
            "cut_boundaries": strip,
        }
    )
