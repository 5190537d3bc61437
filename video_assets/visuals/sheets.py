"""Pictures of a video's scenes and clips, drawn with Pillow.

- :func:`contact_sheet`: one thumbnail per scene, short scenes framed in red;
- :func:`clip_boundary_strip`: for a few clips, the frames on both sides of each cut, so a
  clip that holds a frame of the neighbouring shot shows it at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from video_assets.clips import MIN_CLIP_S, Clip
from video_assets.keyframes import KeyframeIndex, build_index
from video_assets.scenes import Scene
from video_assets.scenes.frames import DecodeStats
from video_assets.visuals.common import (
    BACKGROUND,
    DIM,
    GREEN,
    GREY,
    LINE_H,
    PANEL,
    RED,
    TEXT,
    fit_text,
    font,
    hms,
    message_image,
    save_png,
)
from video_assets.visuals.grab import grab_frames

BORDER = 3
GAP = 6
MARGIN = 8


def as_scenes(scenes: Sequence[Scene] | pd.DataFrame) -> list[Scene]:
    """Scenes from :class:`Scene` objects or rows of the ``scenes`` table, in frame order."""
    if isinstance(scenes, pd.DataFrame):
        col = "scene_index" if "scene_index" in scenes.columns else "index"
        out = [
            Scene(
                int(r[col]),
                int(r["start_frame"]),
                int(r["end_frame"]),
                float(r["start_s"]),
                float(r["end_s"]),
            )
            for _, r in scenes.iterrows()
        ]
    else:
        out = list(scenes)
    return sorted(out, key=lambda s: s.start_frame)


def _as_clips(clips: Sequence[Clip] | pd.DataFrame) -> list[Clip]:
    if isinstance(clips, pd.DataFrame):
        clips = [Clip.from_row(r) for r in clips.to_dict("records")]
    return sorted(clips, key=lambda c: c.start_frame)


def _spread(n: int, k: int, *, centred: bool = False) -> list[int]:
    """``k`` indices of ``range(n)`` evenly spread (all when ``n <= k``).

    From first to last, or, ``centred``, at the middles of ``k`` equal parts (so the
    first and last items, at the ends of the video, are taken only when few).
    """
    if n <= k:
        return list(range(n))
    picks = np.floor((np.arange(k) + 0.5) * n / k) if centred else np.linspace(0, n - 1, k).round()
    return sorted(set(picks.astype(int).tolist()))


def thumbnail_frame(scene: Scene, index: KeyframeIndex) -> int:
    """The frame shown for ``scene``: its middle, or a keyframe in its middle half.

    A keyframe decodes alone, so where one lies in the middle half of the scene it is
    taken instead of the exact middle (the frame number is printed under the thumbnail).
    """
    mid = (scene.start_frame + scene.end_frame - 1) // 2
    quarter = scene.frame_count // 4
    lo, hi = scene.start_frame + quarter, scene.end_frame - 1 - quarter
    best = None
    for kf in (index.keyframe_at_or_before(mid), index.keyframe_at_or_after(mid)):
        if kf is not None and lo <= kf <= hi and (best is None or abs(kf - mid) < abs(best - mid)):
            best = kf
    return mid if best is None else best


def _framed(
    canvas: Image.Image,
    img: np.ndarray | None,
    x: int,
    y: int,
    w: int,
    h: int,
    border: tuple[int, int, int],
    empty_text: str = "",
) -> None:
    """Paste ``img`` at (x, y) inside a ``BORDER``-pixel frame; a grey panel with text if None."""
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([x, y, x + w + 2 * BORDER - 1, y + h + 2 * BORDER - 1], fill=border)
    if img is None:
        draw.rectangle([x + BORDER, y + BORDER, x + BORDER + w - 1, y + BORDER + h - 1], fill=PANEL)
        draw.text(
            (x + BORDER + w // 2, y + BORDER + h // 2),
            empty_text,
            fill=DIM,
            font=font(),
            anchor="mm",
        )
    else:
        pic = Image.fromarray(img)
        if pic.size != (w, h):  # a clip encoded with another aspect ratio than its source
            pic = pic.resize((w, h), Image.Resampling.BILINEAR)
        canvas.paste(pic, (x + BORDER, y + BORDER))


def _sheet_footer(n_scenes: int, n_shown: int, n_short: int, min_duration_s: float) -> list[str]:
    """The contact sheet's footer: what red means, and how many scenes are not shown."""
    lines = [f"red frame: shorter than {min_duration_s:g} s ({n_short} of {n_scenes} scenes)"]
    if n_shown < n_scenes:
        lines.insert(
            0,
            f"+{n_scenes - n_shown} more scenes not shown "
            f"({n_shown} of {n_scenes} drawn, evenly spread)",
        )
    return lines


def _draw_scene_cell(
    canvas: Image.Image,
    scene: Scene,
    thumb: np.ndarray,
    frame: int,
    *,
    x: int,
    y: int,
    thumb_size: tuple[int, int],
    short: bool,
) -> None:
    """One contact-sheet cell: the framed thumbnail, index and start, duration and frame."""
    thumb_width, th = thumb_size
    cell_w = thumb_width + 2 * BORDER
    draw = ImageDraw.Draw(canvas)
    fnt = font()
    _framed(canvas, thumb, x, y, thumb_width, th, RED if short else GREY)
    ty = y + th + 2 * BORDER + 1
    draw.text(
        (x, ty),
        fit_text(draw, f"#{scene.index}  {hms(scene.start_s)}", cell_w, fnt),
        fill=TEXT,
        font=fnt,
    )
    line2 = f"{scene.duration_s:.1f} s  f{frame}"
    draw.text((x, ty + LINE_H), line2, fill=DIM, font=fnt)
    if short:
        draw.text((x + cell_w - 1, ty + LINE_H), "short", fill=RED, font=fnt, anchor="ra")


def contact_sheet(
    video_path: str | Path,
    scenes: Sequence[Scene] | pd.DataFrame,
    out_path: str | Path,
    *,
    min_duration_s: float = MIN_CLIP_S,
    thumb_width: int = 192,
    columns: int = 6,
    max_thumbs: int = 120,
    index: KeyframeIndex | None = None,
    title: str | None = None,
    stats: DecodeStats | None = None,
) -> Path:
    """A PNG with one thumbnail per scene, labelled with index, start time and duration.

    Each thumbnail is the scene's middle frame, or a keyframe in its middle half (see
    :func:`thumbnail_frame`); all are decoded in one pass over the file that seeks past
    whatever lies between them. Scenes shorter than ``min_duration_s`` get a red frame and
    a ``short`` label. A video with more than ``max_thumbs`` scenes shows ``max_thumbs`` of
    them evenly spread from first to last, and the footer says how many are not shown.

    Args:
        video_path: The source video.
        scenes: Scenes covering it (:class:`Scene` objects or ``scenes`` table rows).
        out_path: Where the PNG goes (written under a temporary name, then renamed).
        min_duration_s: Scenes shorter than this are marked short; 0 to 3600.
        thumb_width: Thumbnail width in pixels, 32 to 1024.
        columns: Thumbnails per row, 1 to 20.
        max_thumbs: Most thumbnails drawn, 1 to 1000.
        index: The video's keyframe index if already built.
        title: Header text; the file name when None.
        stats: Counter of decoded frames and seeks.

    Returns:
        ``out_path``.

    Raises:
        ValueError: a setting is out of range.
        MediaError: the video cannot be read.
    """
    if not 0.0 <= min_duration_s <= 3600.0:
        raise ValueError(f"min_duration_s must be in [0, 3600], got {min_duration_s}")
    if not 32 <= thumb_width <= 1024:
        raise ValueError(f"thumb_width must be in [32, 1024], got {thumb_width}")
    if not 1 <= columns <= 20:
        raise ValueError(f"columns must be in [1, 20], got {columns}")
    if not 1 <= max_thumbs <= 1000:
        raise ValueError(f"max_thumbs must be in [1, 1000], got {max_thumbs}")
    all_scenes = as_scenes(scenes)
    title = title if title is not None else Path(video_path).name
    if not all_scenes:
        return save_png(message_image("no scenes", title), out_path)
    index = index or build_index(video_path)
    shown = [all_scenes[i] for i in _spread(len(all_scenes), max_thumbs)]
    picks = {s.index: thumbnail_frame(s, index) for s in shown}
    thumbs = grab_frames(video_path, picks.values(), width=thumb_width, index=index, stats=stats)
    th = next(iter(thumbs.values())).shape[0]

    short_all = sum(s.duration_s < min_duration_s for s in all_scenes)
    cols = min(columns, len(shown))
    rows = math.ceil(len(shown) / cols)
    cell_w = thumb_width + 2 * BORDER
    cell_h = th + 2 * BORDER + 2 * LINE_H + 2
    header_h = LINE_H + 8
    footer_lines = _sheet_footer(len(all_scenes), len(shown), short_all, min_duration_s)
    width = 2 * MARGIN + cols * cell_w + (cols - 1) * GAP
    height = header_h + rows * cell_h + (rows - 1) * GAP + 4 + len(footer_lines) * LINE_H + MARGIN
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    fnt = font()
    duration = index.duration_s
    draw.text(
        (MARGIN, MARGIN // 2 + 2),
        fit_text(
            draw,
            f"{title}: {len(all_scenes)} scenes, {hms(duration)}, {short_all} short",
            width - 2 * MARGIN,
            fnt,
        ),
        fill=TEXT,
        font=fnt,
    )
    for k, scene in enumerate(shown):
        r, c = divmod(k, cols)
        _draw_scene_cell(
            canvas,
            scene,
            thumbs[picks[scene.index]],
            picks[scene.index],
            x=MARGIN + c * (cell_w + GAP),
            y=header_h + r * (cell_h + GAP),
            thumb_size=(thumb_width, th),
            short=scene.duration_s < min_duration_s,
        )
    fy = header_h + rows * cell_h + (rows - 1) * GAP + 4
    for line in footer_lines:
        draw.text((MARGIN, fy), fit_text(draw, line, width - 2 * MARGIN, fnt), fill=DIM, font=fnt)
        fy += LINE_H
    return save_png(canvas, out_path)


def _pick_clips(clips: list[Clip], k: int) -> list[Clip]:
    """Clips that leaked first, then others evenly spread; shown in frame order."""
    leaked = [c for c in clips if c.leaked_frames > 0][:k]
    rest = [c for c in clips if c.leaked_frames <= 0]
    chosen = (
        leaked + [rest[i] for i in _spread(len(rest), k - len(leaked), centred=True)]
        if k > len(leaked)
        else leaked
    )
    return sorted(chosen, key=lambda c: c.start_frame)


def _draw_clip_heading(canvas: Image.Image, c: Clip, file_frames: int, y: int, row_w: int) -> None:
    """A clip's heading line; on the right, in red, when its file holds other frames than claimed."""
    draw = ImageDraw.Draw(canvas)
    fnt = font()
    claimed = c.end_frame - c.start_frame - c.damaged_frames
    head = (
        f"{c.clip_id}  scene {c.scene_index}{f' window {c.window_index}' if c.window_index else ''}"
        f"  {hms(c.start_s)}-{hms(c.end_s)}  {c.method}  "
        f"leaked {c.leaked_frames}"
    )
    draw.text(
        (MARGIN, y),
        fit_text(draw, head, row_w, fnt),
        fill=RED if c.leaked_frames else TEXT,
        font=fnt,
    )
    if file_frames != claimed:
        note = f"file holds {file_frames} frames, table says {claimed}"
        draw.text((MARGIN + row_w, y), note, fill=RED, font=fnt, anchor="ra")


def _clip_end_frames(
    c: Clip, clip_dir: str | Path | None, panel_width: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The first and last frame decoded from the clip file, and the frames the file holds."""
    path = Path(clip_dir) / Path(c.path).name if clip_dir is not None else Path(c.path)
    clip_index = build_index(path)
    final = clip_index.frame_count - 1
    got = grab_frames(path, [0, final], width=panel_width, index=clip_index)
    return got[0], got[final], clip_index.frame_count


_Panel = tuple[np.ndarray | None, tuple[int, int, int], str, str, str]


def _boundary_panels(
    c: Clip,
    first: np.ndarray,
    last: np.ndarray,
    source: dict[int, np.ndarray],
    n: int,
    scene_by_start: dict[int, Scene],
    scene_by_end: dict[int, Scene],
) -> list[_Panel]:
    """A clip's row: (frame, border, text when missing, caption, frame label) per panel.

    The panels are the previous shot's last frame, the clip's first and last, and the next
    shot's first; ``n`` is the source's frame count.
    """
    prev_f, next_f = c.scene_start_frame - 1, c.scene_end_frame
    prev_scene = scene_by_end.get(c.scene_start_frame)
    next_scene = scene_by_start.get(c.scene_end_frame)
    clip_border = RED if c.leaked_frames else GREEN
    return [
        (
            source.get(prev_f),
            GREY,
            "start of video",
            f"prev shot{f' #{prev_scene.index}' if prev_scene else ''}",
            f"last: f{prev_f}" if prev_f >= 0 else "",
        ),
        (
            first,
            clip_border,
            "",
            "clip first",
            f"f{c.start_frame}"
            + (
                " = scene start"
                if c.start_frame == c.scene_start_frame
                else f" (scene starts f{c.scene_start_frame})"
            ),
        ),
        (
            last,
            clip_border,
            "",
            "clip last",
            f"f{c.end_frame - 1}"
            + (
                " = scene end"
                if c.end_frame == c.scene_end_frame
                else f" (scene ends f{c.scene_end_frame - 1})"
            ),
        ),
        (
            source.get(next_f),
            GREY,
            "end of video",
            f"next shot{f' #{next_scene.index}' if next_scene else ''}",
            f"first: f{next_f}" if next_f < n else "",
        ),
    ]


def _draw_panels(
    canvas: Image.Image, panels: list[_Panel], py: int, panel_width: int, ph: int, cut_gap: int
) -> None:
    """Draw a row of framed panels at height ``py``, a red rule across each cut."""
    draw = ImageDraw.Draw(canvas)
    fnt = font()
    cell_w = panel_width + 2 * BORDER
    x = MARGIN
    for k, (img, border, empty, caption, frames_label) in enumerate(panels):
        _framed(canvas, img, x, py, panel_width, ph, border, empty)
        ly = py + ph + 2 * BORDER + 1
        draw.text((x, ly), fit_text(draw, caption, cell_w, fnt), fill=TEXT, font=fnt)
        draw.text((x, ly + LINE_H), fit_text(draw, frames_label, cell_w, fnt), fill=DIM, font=fnt)
        x += cell_w
        if k in (0, 2):  # a cut lies between these panels: a red rule in a wider gap
            mid = x + cut_gap // 2
            draw.line([mid, py, mid, py + ph + 2 * BORDER - 1], fill=RED, width=2)
            x += cut_gap
        else:
            x += GAP


def clip_boundary_strip(
    video_path: str | Path,
    clips: Sequence[Clip] | pd.DataFrame,
    scenes: Sequence[Scene] | pd.DataFrame,
    out_path: str | Path,
    *,
    max_clips: int = 4,
    panel_width: int = 192,
    clip_dir: str | Path | None = None,
    index: KeyframeIndex | None = None,
) -> Path:
    """A PNG with, per clip, the frames around both of its cuts.

    Each row shows [last frame of the previous shot | first frame of the clip | last frame
    of the clip | first frame of the next shot], labelled with source frame numbers. The
    clip's own frames are decoded from the clip file, the neighbours from the source, so a
    clip that holds a frame of another shot shows two lookalike panels across a cut.
    Clips with ``leaked_frames > 0`` are drawn first (red frame); the rest are taken from
    the middles of equal parts of the clip list, so they spread over the video.

    Args:
        video_path: The source video.
        clips: :class:`Clip` results or ``clips`` table rows.
        scenes: The scenes the clips were cut from (objects or ``scenes`` table rows).
        out_path: Where the PNG goes (written under a temporary name, then renamed).
        max_clips: Rows drawn, 1 to 32.
        panel_width: Width of each frame in pixels, 32 to 1024.
        clip_dir: Folder holding the clip files, when the paths in ``clips`` are not
            where the files are now (table paths are relative to the data root); each file
            is then ``clip_dir / <file name of path>``.
        index: The source's keyframe index if already built.

    Returns:
        ``out_path``.

    Raises:
        ValueError: a setting is out of range.
        MediaError: the source or a clip file cannot be read.
    """
    if not 1 <= max_clips <= 32:
        raise ValueError(f"max_clips must be in [1, 32], got {max_clips}")
    if not 32 <= panel_width <= 1024:
        raise ValueError(f"panel_width must be in [32, 1024], got {panel_width}")
    rows = _pick_clips(_as_clips(clips), max_clips)
    if not rows:
        return save_png(message_image("no clips", Path(video_path).name), out_path)
    scene_by_start = {s.start_frame: s for s in as_scenes(scenes)}
    scene_by_end = {s.end_frame: s for s in scene_by_start.values()}
    index = index or build_index(video_path)
    n = index.frame_count
    wanted = [f for c in rows for f in (c.scene_start_frame - 1, c.scene_end_frame) if 0 <= f < n]
    source = grab_frames(video_path, wanted, width=panel_width, index=index)
    own = [_clip_end_frames(c, clip_dir, panel_width) for c in rows]
    ph = own[0][0].shape[0]
    fnt = font()
    cell_w = panel_width + 2 * BORDER
    cut_gap = 3 * GAP
    row_w = 4 * cell_w + 2 * cut_gap + GAP
    row_h = LINE_H + 2 + ph + 2 * BORDER + 2 * LINE_H + 2
    width = 2 * MARGIN + row_w
    height = MARGIN + LINE_H + 4 + len(rows) * (row_h + GAP) + LINE_H + MARGIN
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (MARGIN, MARGIN),
        fit_text(
            draw,
            f"{Path(video_path).name}: frames around the cuts of {len(rows)} clips",
            row_w,
            fnt,
        ),
        fill=TEXT,
        font=fnt,
    )
    y = MARGIN + LINE_H + 4
    for c, (first, last, file_frames) in zip(rows, own, strict=True):
        _draw_clip_heading(canvas, c, file_frames, y, row_w)
        panels = _boundary_panels(c, first, last, source, n, scene_by_start, scene_by_end)
        _draw_panels(canvas, panels, y + LINE_H + 2, panel_width, ph, cut_gap)
        y += row_h + GAP
    draw.text(
        (MARGIN, y),
        fit_text(
            draw,
            "red rule: a cut; grey: source frames beside the scene; green: the "
            "clip file's own first and last frames (red if it leaked)",
            row_w,
            fnt,
        ),
        fill=DIM,
        font=fnt,
    )
    return save_png(canvas, out_path)
