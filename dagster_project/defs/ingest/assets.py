"""source_video and iframe_index: a landing file registered, copied, probed and indexed."""

import dagster as dg
import pandas as pd

from dagster_project.defs.metadata import md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource
from video_assets.ingest import store_source
from video_assets.keyframes import build_index
from video_assets.layout import source_rel


@dg.asset(
    partitions_def=videos,
    group_name="ingest",
    kinds={"ffmpeg", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "ingest"},
)
def source_video(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Copies a registered landing file into the store (verified by hash) and records its stream facts."""
    root = store.root()
    vid = context.partition_key
    stored = store_source(root, vid)
    root.write_table("videos", vid, stored.frame())
    return dg.MaterializeResult(
        metadata={
            "original_name": stored.registration.original_name,
            "stored_at": dg.MetadataValue.path(root.uri(stored.rel)),
            **stored.summary(),
        }
    )


@dg.asset(
    partitions_def=videos,
    deps=[source_video],
    group_name="video",
    kinds={"pyav", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "scenes"},
)
def iframe_index(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Keyframe positions from the MP4 sample tables or demuxed packet flags; no frame is decoded."""
    root = store.root()
    vid = context.partition_key
    # A local MP4/MOV is read from its header; anything else is demuxed in one pass, on an
    # object store straight from a presigned URL (no local copy).
    with root.media_input(source_rel(root, vid)) as media:
        index = build_index(media)
    kfs = index.keyframe_frames
    gops = list((kfs[1:] - kfs[:-1]).tolist()) + [index.frame_count - int(kfs[-1])]
    df = pd.DataFrame(
        {
            "video_id": vid,
            "frame": kfs.astype("int64"),
            "pts_s": index.pts_s[kfs].round(6),
            "gop_frames": pd.Series(gops, dtype="int64"),
        }
    )
    root.write_table("keyframes", vid, df)
    return dg.MaterializeResult(
        metadata={
            "keyframes": len(kfs),
            "frames": index.frame_count,
            "fps": round(index.fps, 3),
            "duration_s": round(index.duration_s, 3),
            "mean_gop_s": round(index.duration_s / len(kfs), 3),
            "timestamps_from": index.timestamps,
            "index_method": index.method,
            "index_fallback": index.fallback or "-",
            "elapsed_s": round(index.elapsed_s, 4),
            "preview": md_table(df.drop(columns=["video_id"])),
        }
    )
