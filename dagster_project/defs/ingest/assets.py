"""source_video and iframe_index: a landing file registered, copied, probed and indexed."""

import dataclasses
import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from dagster_project.defs.ingest.registry import lookup
from dagster_project.defs.metadata import md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource
from video_assets.errors import MediaError
from video_assets.keyframes import build_index
from video_assets.probe import probe
from video_assets.store import DataRoot

COPY_CHUNK = 8 << 20


def source_rel(root: DataRoot, video_id: str) -> str:
    """Relative path of the stored source of ``video_id``."""
    names = [n for n in root.listdir(root.rel("videos", video_id)) if n.startswith("source.")]
    if not names:
        raise MediaError(video_id, "has no stored source; materialize source_video first")
    return root.rel("videos", video_id, names[0])


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
    reg = lookup(root, vid)
    landing = Path(reg.landing_path)
    ext = landing.suffix.lower() or ".bin"
    rel = root.rel("videos", vid, f"source{ext}")
    copied = False
    if not root.exists(rel):  # stored sources are immutable: never rewritten
        if not landing.is_file():
            raise MediaError(
                landing, "was registered but is gone from the landing folder, and no copy is stored"
            )
        info = probe(landing)  # a bad file fails here, naming the landing file; nothing is copied
        info.require_video()
        # Copied while hashed, in one read of the landing file (never moved or changed): to a
        # temporary name locally, streamed up with no local staging copy on an object store;
        # a hash mismatch leaves nothing under the final name.
        with root.atomic_stream(rel) as out, open(landing, "rb") as src:
            digest = hashlib.sha256()
            while chunk := src.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != reg.sha256:
                raise MediaError(
                    landing,
                    "changed after it was registered (hash differs); it will be registered again",
                )
        copied = True
    # The stored copy, read in place: ffprobe reads an object-store source by range requests.
    with root.media_input(rel) as stored:
        try:
            info = probe(stored)
        except MediaError as exc:
            raise MediaError(landing, f"{exc.problem} (stored copy {rel})") from None
        info = dataclasses.replace(info, path=str(landing))
    video = info.require_video()
    row = pd.DataFrame(
        [
            {
                "video_id": vid,
                "sha256": reg.sha256,
                "original_name": reg.original_name,
                "source_path": rel,
                "bytes": info.size_bytes,
                "format": info.format_name,
                "duration_s": info.duration_s,
                "video_codec": video.codec,
                "width": video.width,
                "height": video.height,
                "fps": video.fps,
                "rotation": video.rotation,
                "audio_streams": len(info.audio),
            }
        ]
    )
    root.write_table("videos", vid, row)
    return dg.MaterializeResult(
        metadata={
            "original_name": reg.original_name,
            "stored_at": dg.MetadataValue.path(root.uri(rel)),
            "copied_now": copied,
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{video.width}x{video.height}",
            "fps": round(video.fps, 3),
            "video_codec": video.codec,
            "audio_streams": len(info.audio),
            "bytes": info.size_bytes,
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
