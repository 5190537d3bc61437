"""Where a video's files live in the data root (see DESIGN.md, Store).

Every stage names its outputs through these functions, so the layout is said once:

    registry/<video_id>.json                   a registered landing file
    videos/<video_id>/source.<ext>             never modified or deleted by the pipeline
    clips/<video_id>/<clip_id>.mp4
    stems/<video_id>/vocals.wav
    tokens/<video_id>/<clip_id>.safetensors
    previews/<video_id>/<name>.png             pictures shown in the Dagster UI
    models/tokenizer/current.json              the tokenizer every video is encoded with

Paths are relative to the root and built from validated components
(:meth:`DataRoot.rel`), so nothing derived from a file name can escape it.
"""

from __future__ import annotations

import json

from video_assets.errors import MediaError, VideoAssetsError
from video_assets.store import DataRoot, safe_component

TOKENIZER_DIR = "models/tokenizer"
"""Trained tokenizer checkpoints, ``tokenizer-<hash12>.safetensors``."""
CURRENT_TOKENIZER = f"{TOKENIZER_DIR}/current.json"
"""The pointer to the checkpoint tokens are made with (see video_assets.tokens.current)."""


def _rel(*parts: str) -> str:
    return "/".join(safe_component(p) for p in parts)


def registry_rel(video_id: str) -> str:
    """The registration record of ``video_id``."""
    return _rel("registry", f"{video_id}.json")


def source_rel_for(video_id: str, suffix: str) -> str:
    """Where the source of ``video_id`` is stored, for a landing file ending in ``suffix``."""
    return _rel("videos", video_id, f"source{suffix.lower() or '.bin'}")


def source_rel(root: DataRoot, video_id: str) -> str:
    """The stored source of ``video_id`` (whatever its extension).

    Raises:
        MediaError: no source is stored yet.
    """
    names = [n for n in root.listdir(_rel("videos", video_id)) if n.startswith("source.")]
    if not names:
        raise MediaError(video_id, "has no stored source; materialize source_video first")
    return _rel("videos", video_id, names[0])


def clip_dir(video_id: str) -> str:
    """The folder holding the clips of ``video_id``."""
    return _rel("clips", video_id)


def stem_dir(video_id: str) -> str:
    """The folder holding the vocal stems of ``video_id``."""
    return _rel("stems", video_id)


def token_dir(video_id: str) -> str:
    """The folder holding the token files of ``video_id``, one per clip."""
    return _rel("tokens", video_id)


def preview_rel(video_id: str, name: str) -> str:
    """A picture of ``video_id`` shown in the UI (``clip_boundaries.png``, ``tokens.png``, ...)."""
    return _rel("previews", video_id, name)


def tokenizer_rel(checkpoint_hash: str) -> str:
    """Where a trained tokenizer checkpoint is stored, named by its content hash."""
    return f"{TOKENIZER_DIR}/{safe_component(f'tokenizer-{checkpoint_hash[:12]}.safetensors')}"


def has_tokenizer(root: DataRoot) -> bool:
    """Whether a tokenizer was made current (tokenizer_model materialized)."""
    return root.exists(CURRENT_TOKENIZER)


def current_tokenizer(root: DataRoot) -> dict:
    """The pointer to the current tokenizer: ``{"hash", "path", "stored", "source", ...}``
    (written by :mod:`video_assets.tokens.stage`; kept here, torch-free, for its readers).

    Raises:
        VideoAssetsError: no tokenizer was made current yet.
    """
    if not has_tokenizer(root):
        raise VideoAssetsError(
            f"no tokenizer yet ({root.uri(CURRENT_TOKENIZER)} is missing); materialize tokenizer_model"
        )
    return json.loads(root.read_bytes(CURRENT_TOKENIZER))
