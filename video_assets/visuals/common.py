"""What the pictures share: colours, fonts, time labels, atomic PNG writes, Markdown embedding."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from video_assets.store import TMP_PREFIX

BACKGROUND = (24, 24, 24)
PANEL = (48, 48, 48)
TEXT = (232, 232, 232)
DIM = (150, 150, 150)
RED = (220, 40, 40)
GREEN = (60, 170, 80)
GREY = (90, 90, 90)

FONT_SIZE = 12
LINE_H = FONT_SIZE + 4


def font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` (its bitmap font where FreeType is missing)."""
    return ImageFont.load_default(size=size)


def hms(seconds: float) -> str:
    """``h:mm:ss.s``, e.g. ``0:01:23.4``."""
    tenths = int(round(max(0.0, float(seconds)) * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    return f"{h}:{m:02d}:{rest / 10:04.1f}"


def text_width(draw: ImageDraw.ImageDraw, text: str, fnt=None) -> int:
    return int(round(draw.textlength(text, font=fnt or font())))


def fit_text(draw: ImageDraw.ImageDraw, text: str, width: int, fnt=None) -> str:
    """``text`` cut with an ellipsis so it fits ``width`` pixels."""
    fnt = fnt or font()
    if text_width(draw, text, fnt) <= width:
        return text
    while text and text_width(draw, text + "…", fnt) > width:
        text = text[:-1]
    return text + "…"


def _atomic(out_path: str | Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary name next to ``out_path``, then rename it into place."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{out.name}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def save_png(image: Image.Image, out_path: str | Path) -> Path:
    """Write ``image`` as PNG atomically, without metadata (same pixels, same bytes)."""
    return _atomic(out_path, lambda tmp: image.save(tmp, format="PNG", optimize=False))


def save_figure(fig, out_path: str | Path, dpi: int = 100) -> Path:
    """Write a Matplotlib figure as PNG atomically, without the Software tag."""
    return _atomic(
        out_path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    )


def message_image(title: str, detail: str = "", size: tuple[int, int] = (480, 120)) -> Image.Image:
    """A plain picture saying why there is nothing to show (``no words``)."""
    img = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    big = font(20)
    w, h = size
    draw.text((w // 2, h // 2 - (12 if detail else 0)), title, fill=TEXT, font=big, anchor="mm")
    if detail:
        draw.text(
            (w // 2, h // 2 + 16),
            fit_text(draw, detail, w - 16),
            fill=DIM,
            font=font(),
            anchor="mm",
        )
    return img


def png_markdown(image: str | Path | bytes, alt: str, *, max_bytes: int = 300_000) -> str:
    """Markdown with the image inline (``![alt](data:image/png;base64,...)``) for the Dagster UI.

    The image is embedded as is when it fits ``max_bytes``; otherwise a JPEG copy is
    embedded, at lower quality and then smaller scale until it fits (a file on disk is not
    changed). When even the smallest copy does not fit, a line saying so is returned.

    Args:
        image: A PNG file (or any image Pillow reads), or its bytes (as
            :func:`video_assets.tokens.report.plot_training` returns them).
        alt: Alternative text.
        max_bytes: Largest embedded image before base64, 10,000 to 10,000,000.

    Raises:
        ValueError: ``max_bytes`` is out of range.
    """
    if not 10_000 <= max_bytes <= 10_000_000:
        raise ValueError(f"max_bytes must be in [10000, 10000000], got {max_bytes}")
    alt = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    where = "" if isinstance(image, bytes) else f", see `{image}`"
    mime = "image/png"
    if len(data) > max_bytes:
        found = None
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
        for scale in (1.0, 0.8, 0.64, 0.5, 0.4):
            size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            frame = rgb if scale == 1.0 else rgb.resize(size, Image.Resampling.LANCZOS)
            for quality in (85, 70, 55):
                buf = io.BytesIO()
                frame.save(buf, format="JPEG", quality=quality, optimize=True)
                if buf.tell() <= max_bytes:
                    found = buf.getvalue()
                    break
            if found is not None:
                break
        if found is None:
            return f"_{alt}: image too large to embed ({len(data) // 1000} KB){where}_"
        data, mime = found, "image/jpeg"
    return f"![{alt}](data:{mime};base64,{base64.b64encode(data).decode('ascii')})"
