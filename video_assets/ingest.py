"""Storing a registered landing file: copied once while hashed, then probed in the store."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from video_assets.errors import MediaError
from video_assets.layout import source_rel_for
from video_assets.probe import MediaInfo, VideoStreamInfo, probe
from video_assets.registry import Registration, lookup
from video_assets.store import DataRoot

COPY_CHUNK = 8 << 20


@dataclass(frozen=True)
class StoredSource:
    """A video's source in the store and its stream facts.

    Attributes:
        registration: The landing file it was copied from.
        rel: The stored copy, relative to the data root.
        info: ffprobe's facts about the stored copy (``path`` names the landing file).
        copied: Whether this call copied it (False: it was stored before; never rewritten).
    """

    registration: Registration
    rel: str
    info: MediaInfo
    copied: bool

    @property
    def video(self) -> VideoStreamInfo:
        return self.info.require_video()

    def row(self) -> dict[str, Any]:
        """The video's row of the ``videos`` table."""
        reg, info, video = self.registration, self.info, self.video
        return {
            "video_id": reg.video_id,
            "sha256": reg.sha256,
            "original_name": reg.original_name,
            "source_path": self.rel,
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

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.row()])

    def summary(self) -> dict[str, Any]:
        """What a person wants to see about the stored copy."""
        info, video = self.info, self.video
        return {
            "copied_now": self.copied,
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{video.width}x{video.height}",
            "fps": round(video.fps, 3),
            "video_codec": video.codec,
            "audio_streams": len(info.audio),
            "bytes": info.size_bytes,
        }


def store_source(root: DataRoot, video_id: str) -> StoredSource:
    """Copy the registered landing file of ``video_id`` into the store (verified by hash)
    unless it is stored already, and probe the stored copy.

    Raises:
        MediaError: the video is not registered, its landing file is gone (and no copy is
            stored), changed since it was registered, or holds no readable video.
    """
    reg = lookup(root, video_id)
    landing = Path(reg.landing_path)
    rel = source_rel_for(video_id, landing.suffix)
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
    info.require_video()
    return StoredSource(registration=reg, rel=rel, info=info, copied=copied)
