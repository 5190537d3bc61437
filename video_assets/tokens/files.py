"""Reading token files, without torch: the one reader for the token stage and the shards.

Token file layout (safetensors): one tensor ``tokens``, int32, shape ``(T', H', W')``, plus
string metadata (see :meth:`video_assets.tokens.encode.TokenResult.metadata`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from video_assets.errors import MediaError

TOKENS_KEY = "tokens"


class TokensError(MediaError):
    """A checkpoint or token file is missing, corrupt, or not what was expected (``path``, ``problem``)."""


@dataclass
class TokenFile:
    """A token file read back.

    Attributes:
        path: The file.
        ids: ``(T', H', W')`` int32 ids.
        metadata: Its string metadata.
    """

    path: str
    ids: np.ndarray = field(repr=False)
    metadata: dict[str, str]


def read_tokens(path: str | Path) -> TokenFile:
    """Read a token file written by :func:`video_assets.tokens.encode.write_tokens_safetensors`.

    Raises:
        TokensError: the file is missing, not safetensors, or has no 3-D int32 ``tokens``.
    """
    p = Path(path)
    if not p.is_file():
        raise TokensError(p, "token file does not exist")
    try:
        with safe_open(str(p), framework="np") as fh:
            meta = dict(sorted((fh.metadata() or {}).items()))
            if TOKENS_KEY not in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                raise TokensError(p, f"has no {TOKENS_KEY!r} tensor")
            ids = fh.get_tensor(TOKENS_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise TokensError(p, f"is not a readable safetensors token file ({exc})") from None
    if ids.ndim != 3 or ids.dtype != np.int32:
        raise TokensError(p, f"tokens must be 3-D int32, got {ids.dtype} {ids.shape}")
    return TokenFile(path=str(p), ids=ids, metadata=meta)
