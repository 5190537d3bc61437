import base64
import dataclasses
import io
import re

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from video_assets.clips import ClipSettings, split_video
from video_assets.errors import MediaError
from video_assets.generate.synth import make_shots_video
from video_assets.keyframes import build_index
from video_assets.scenes import scenes_from_cuts
from video_assets.scenes.frames import DecodeStats
from video_assets.visuals import (
    catalog_summary_markdown,
    clip_boundary_strip,
    confidence_plot,
    contact_sheet,
    grab_frames,
    hms,
    png_markdown,
    sheets,
    thumbnail_frame,
    transcript_markdown,
)
from video_assets.visuals.common import GREEN, GREY, LINE_H, RED

# 25 fps: 2.4, 1.2, 3.2, 2.0 and 1.8 s; cuts at 60, 90, 170, 220. A keyframe every 50
# frames only, so most cuts fall mid-GOP and most copied clips start after their scene.
SHOTS = [60, 30, 80, 50, 45]
MIN_S = 2.2  # scenes 1, 3 and 4 are shorter
W, H = 160, 90


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    d = tmp_path_factory.mktemp("visuals")
    return make_shots_video(
        d / "v.mp4", SHOTS, size=(W, H), encoding="fixed_gop", gop=50, audio="none"
    )


@pytest.fixture(scope="module")
def index(video):
    return build_index(video.path)


@pytest.fixture(scope="module")
def scenes(video, index):
    return scenes_from_cuts(video.cuts, index)


@pytest.fixture(scope="module")
def clips(video, index, scenes, tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    return split_video(
        video.path,
        scenes,
        out,
        settings=ClipSettings(min_duration_s=1.0),
        index=index,
        has_audio=False,
    )


@pytest.fixture(scope="module")
def source_frames(video):
    with av.open(str(video.path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BOX), dtype=np.float64)


def shows_frame(
    panel: np.ndarray, frames: list[np.ndarray], claimed: int, tol: float = 0.5
) -> bool:
    """Whether ``panel`` is (one of the lookalikes of) source frame ``claimed``.

    Frames of one synthetic shot can be identical (x264 repeats still frames), so the claimed
    frame must be among the best matches, and far better than any frame of another shot.
    """
    size = (panel.shape[1], panel.shape[0])
    errors = np.array([np.abs(shrink(f, size) - panel).mean() for f in frames])
    return bool(errors[claimed] <= errors.min() + tol)


# -- contact sheet ---------------------------------------------------------------------------
def cell_origin(k: int, cols: int, thumb_w: int, thumb_h: int) -> tuple[int, int]:
    cell_w = thumb_w + 2 * sheets.BORDER
    cell_h = thumb_h + 2 * sheets.BORDER + 2 * LINE_H + 2
    r, c = divmod(k, cols)
    return sheets.MARGIN + c * (cell_w + sheets.GAP), LINE_H + 8 + r * (cell_h + sheets.GAP)


def test_contact_sheet_layout_and_short_marks(video, index, scenes, source_frames, tmp_path):
    stats = DecodeStats()
    out = contact_sheet(
        video.path,
        scenes,
        tmp_path / "sheet.png",
        min_duration_s=MIN_S,
        thumb_width=96,
        columns=3,
        index=index,
        stats=stats,
    )
    img = np.asarray(Image.open(out).convert("RGB"))
    thumb_h = 54  # 96 wide at 16:9
    cell_w = 96 + 2 * sheets.BORDER
    assert img.shape[1] == 2 * sheets.MARGIN + 3 * cell_w + 2 * sheets.GAP
    for k, scene in enumerate(scenes):
        x, y = cell_origin(k, 3, 96, thumb_h)
        border = tuple(img[y + 1, x + 1])
        assert border == (RED if scene.duration_s < MIN_S else GREY), (k, border)
        # The thumbnail is the source frame it names, not its neighbours'.
        pic = img[
            y + sheets.BORDER : y + sheets.BORDER + thumb_h,
            x + sheets.BORDER : x + sheets.BORDER + 96,
        ]
        assert shows_frame(pic.astype(np.float64), source_frames, thumbnail_frame(scene, index))
    # The sixth slot of two rows of three is empty background.
    x, y = cell_origin(5, 3, 96, thumb_h)
    assert tuple(img[y + 1, x + 1]) == (24, 24, 24)
    # Cheap decoding: fewer frames than the video holds, one seek per thumbnail at most.
    assert stats.frames_decoded < index.frame_count and stats.seeks <= len(scenes)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_contact_sheet_same_input_same_bytes(video, scenes, tmp_path):
    a = contact_sheet(video.path, scenes, tmp_path / "a.png")
    b = contact_sheet(video.path, scenes, tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    assert b"tIME" not in a.read_bytes()


def test_contact_sheet_caps_thumbnails_evenly(video, scenes, tmp_path):
    out = contact_sheet(
        video.path, scenes, tmp_path / "cap.png", thumb_width=64, columns=6, max_thumbs=2
    )
    img = np.asarray(Image.open(out).convert("RGB"))
    cell_w = 64 + 2 * sheets.BORDER
    assert img.shape[1] == 2 * sheets.MARGIN + 2 * cell_w + sheets.GAP  # two columns, one row
    # the footer line (+3 more scenes) adds a line below the one-row legend
    one_row = contact_sheet(video.path, scenes[:2], tmp_path / "two.png", thumb_width=64, columns=6)
    assert img.shape[0] == Image.open(one_row).height + LINE_H


def test_contact_sheet_from_table_rows_and_no_scenes(video, scenes, tmp_path):
    df = pd.DataFrame(
        [
            {
                "scene_index": s.index,
                "start_frame": s.start_frame,
                "end_frame": s.end_frame,
                "start_s": s.start_s,
                "end_s": s.end_s,
            }
            for s in reversed(scenes)
        ]
    )
    a = contact_sheet(video.path, df, tmp_path / "df.png")
    b = contact_sheet(video.path, scenes, tmp_path / "obj.png")
    assert a.read_bytes() == b.read_bytes()
    empty = contact_sheet(video.path, [], tmp_path / "none.png")
    assert Image.open(empty).size == (480, 120)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"min_duration_s": -1.0}, "min_duration_s", id="min-duration"),
        pytest.param({"thumb_width": 8}, "thumb_width", id="thumb-width"),
        pytest.param({"columns": 0}, "columns", id="columns"),
        pytest.param({"max_thumbs": 0}, "max_thumbs", id="max-thumbs"),
    ],
)
def test_contact_sheet_bad_settings(video, scenes, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        contact_sheet(video.path, scenes, tmp_path / "x.png", **kwargs)


def test_unreadable_media_names_the_file(scenes, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError, match="junk.mp4"):
        contact_sheet(junk, scenes, tmp_path / "x.png")
    with pytest.raises(MediaError, match="missing.mp4"):
        contact_sheet(tmp_path / "missing.mp4", scenes, tmp_path / "x.png")


def test_grab_frames_forward_pass_and_range(video, index, source_frames):
    stats = DecodeStats()
    got = grab_frames(video.path, [12, 3, 12, 40], width=W, index=index, stats=stats)
    assert sorted(got) == [3, 12, 40]
    assert stats.seeks == 0 and stats.frames_decoded == 41  # one pass from frame 0
    for n, frame in got.items():
        assert np.abs(frame.astype(int) - source_frames[n].astype(int)).mean() < 1.0
    with pytest.raises(ValueError, match=r"\[0, 264\]"):
        grab_frames(video.path, [265], width=W, index=index)


# -- clip boundary strip ---------------------------------------------------------------------
def strip_panel(img: np.ndarray, row: int, col: int, panel_w: int, panel_h: int) -> np.ndarray:
    cell_w = panel_w + 2 * sheets.BORDER
    cut_gap = 3 * sheets.GAP
    row_h = LINE_H + 2 + panel_h + 2 * sheets.BORDER + 2 * LINE_H + 2
    x = (
        sheets.MARGIN
        + [
            0,
            cell_w + cut_gap,
            2 * cell_w + cut_gap + sheets.GAP,
            3 * cell_w + 2 * cut_gap + sheets.GAP,
        ][col]
    )
    y = sheets.MARGIN + LINE_H + 4 + row * (row_h + sheets.GAP) + LINE_H + 2
    return img[y : y + panel_h + 2 * sheets.BORDER, x : x + cell_w]


def test_boundary_strip_panels_are_the_frames_around_the_cuts(
    video, index, scenes, clips, source_frames, tmp_path
):
    assert any(c.start_frame > c.scene_start_frame for c in clips), (
        "a clip must start after its scene"
    )
    out = clip_boundary_strip(
        video.path,
        clips,
        scenes,
        tmp_path / "strip.png",
        max_clips=len(clips),
        panel_width=W,
        index=index,
    )
    img = np.asarray(Image.open(out).convert("RGB"))
    b, ph = sheets.BORDER, 90
    for row, clip in enumerate(sorted(clips, key=lambda c: c.start_frame)):
        panels = [strip_panel(img, row, col, W, ph) for col in range(4)]
        inner = [p[b:-b, b:-b].astype(np.float64) for p in panels]
        assert tuple(panels[1][1, 1]) == GREEN and tuple(panels[0][1, 1]) == GREY
        # The clip's own first and last frames are the source frames the clip claims (a
        # re-encode differs from its source by about as much as neighbouring frames do).
        tol = 0.5 if clip.method == "copy" else 3.0
        assert shows_frame(inner[1], source_frames, clip.start_frame, tol)
        assert shows_frame(inner[2], source_frames, clip.end_frame - 1, tol)
        if clip.scene_start_frame > 0:
            assert shows_frame(inner[0], source_frames, clip.scene_start_frame - 1)
            # ...and nothing like the other side of the cut
            assert not shows_frame(inner[0], source_frames, clip.start_frame, tol=20.0)
        if clip.scene_end_frame < index.frame_count:
            assert shows_frame(inner[3], source_frames, clip.scene_end_frame)
            assert not shows_frame(inner[3], source_frames, clip.end_frame - 1, tol=20.0)


def test_boundary_strip_from_table_rows_and_clip_dir(video, scenes, clips, tmp_path):
    df = pd.DataFrame([{**c.to_json(), "path": f"clips/vid/{c.clip_id}.mp4"} for c in clips])
    a = clip_boundary_strip(
        video.path, df, scenes, tmp_path / "a.png", clip_dir=sheets.Path(clips[0].path).parent
    )
    b = clip_boundary_strip(video.path, clips, scenes, tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(MediaError, match="clips/vid/"):
        clip_boundary_strip(video.path, df, scenes, tmp_path / "c.png")


def test_boundary_strip_shows_leaked_clips_first(video, scenes, clips, tmp_path):
    leaked = dataclasses.replace(clips[-1], leaked_frames=2)
    out = clip_boundary_strip(
        video.path, [*clips[:-1], leaked], scenes, tmp_path / "leak.png", max_clips=1, panel_width=W
    )
    img = np.asarray(Image.open(out).convert("RGB"))
    assert tuple(strip_panel(img, 0, 1, W, 90)[1, 1]) == RED
    assert img.shape[0] < 300  # one row


def test_boundary_strip_picks_evenly_and_handles_no_clips(video, scenes, clips, tmp_path):
    picked = [c.clip_id for c in sheets._pick_clips(sheets._as_clips(clips), 2)]
    assert picked == [clips[1].clip_id, clips[3].clip_id]  # middles of two halves of five
    assert sheets._spread(120, 4, centred=True) == [15, 45, 75, 105]
    assert sheets._spread(120, 4) == [0, 40, 79, 119]
    out = clip_boundary_strip(video.path, [], scenes, tmp_path / "none.png")
    assert Image.open(out).size == (480, 120)
    with pytest.raises(ValueError, match="max_clips"):
        clip_boundary_strip(video.path, clips, scenes, tmp_path / "x.png", max_clips=0)


# -- transcript --------------------------------------------------------------------------------
def transcript_tables(speakers: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    words = pd.DataFrame(
        [
            ("v", 0, "Hello", 0.5, 0.9, 0.95, "SPEAKER_00"),
            ("v", 0, "wrold", 1.0, 1.4, 0.23, "SPEAKER_00"),
            ("v", 0, "there", 1.5, 1.9, 0.81, "SPEAKER_00"),
            ("v", 1, "thank", 4.0, 4.3, 0.10, "SPEAKER_01"),
            ("v", 1, "you", 4.3, 4.6, 0.12, "SPEAKER_01"),
            ("v", 1, "*again*", 4.6, 5.0, 0.05, "SPEAKER_01"),
            ("v", 2, "42", 7.0, 7.5, float("nan"), None),
        ],
        columns=["video_id", "segment", "word", "start", "end", "score", "speaker"],
    )
    if not speakers:
        words["speaker"] = None
    segments = pd.DataFrame(
        [
            ("v", 0, 0.5, 1.9, "Hello wrold there", "SPEAKER_00", "en", True, None),
            ("v", 1, 4.0, 5.0, "thank you again", "SPEAKER_01", "en", False, "low_confidence_run"),
            ("v", 2, 7.0, 7.5, "42", None, "en", True, None),
        ],
        columns=[
            "video_id",
            "segment",
            "start",
            "end",
            "text",
            "speaker",
            "language",
            "kept",
            "drop_reason",
        ],
    )
    return words, segments


@pytest.mark.parametrize(
    "speakers", [pytest.param(True, id="speakers"), pytest.param(False, id="no-speakers")]
)
def test_confidence_plot(tmp_path, speakers):
    words, segments = transcript_tables(speakers)
    a = confidence_plot(words, segments, tmp_path / "a.png")
    b = confidence_plot(words, segments, tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    img = np.asarray(Image.open(a).convert("RGB")).astype(int)
    assert img.shape == (360, 1200, 3)
    # The dropped segment is shaded in the first reason colour (#d62728 at 15 % on white).
    shade = np.array([251, 223, 223])
    assert (np.abs(img - shade).max(axis=2) <= 3).sum() > 2000


def test_confidence_plot_shading_follows_kept(tmp_path):
    words, segments = transcript_tables()
    kept = segments.assign(kept=True, drop_reason=None)
    a = np.asarray(
        Image.open(confidence_plot(words, kept, tmp_path / "k.png")).convert("RGB")
    ).astype(int)
    assert (np.abs(a - np.array([251, 223, 223])).max(axis=2) <= 3).sum() < 50


@pytest.mark.parametrize(
    ("words", "segments"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(
            pd.DataFrame(columns=["segment", "word", "start", "end", "score", "speaker"]),
            transcript_tables()[1],
            id="segments-only",
        ),
    ],
)
def test_confidence_plot_without_words(tmp_path, words, segments):
    out = confidence_plot(words, segments, tmp_path / "empty.png")
    assert Image.open(out).size == (480, 120)


def test_confidence_plot_bad_threshold(tmp_path):
    with pytest.raises(ValueError, match=r"min_score must be in \[0, 1\]"):
        confidence_plot(None, None, tmp_path / "x.png", min_score=1.5)


def test_transcript_markdown_marks_low_words_and_dropped_segments():
    words, segments = transcript_tables()
    md = transcript_markdown(words, segments)
    lines = md.splitlines()
    assert lines[0] == "**3 segments**, 1 dropped (low_confidence_run 1); **7 words**, 4 below 0.4."
    assert lines[2] == "- `0:00:00.5–0:00:01.9` **SPEAKER\\_00** Hello **wrold**(0.23) there"
    assert lines[3].startswith(
        "- `0:00:04.0–0:00:05.0` **SPEAKER\\_01** _dropped: low\\_confidence\\_run_ —"
    )
    assert "**\\*again\\***(0.05)" in lines[3]  # Markdown in words is escaped
    assert lines[4] == "- `0:00:07.0–0:00:07.5` 42"  # no score is not low


def test_transcript_markdown_limits_and_keeps_room_for_late_dropped_segments():
    n = 40
    segments = pd.DataFrame(
        {
            "segment": range(n),
            "start": np.arange(n) * 2.0,
            "end": np.arange(n) * 2.0 + 1.5,
            "text": [f"line {i}" for i in range(n)],
            "speaker": None,
            "language": "en",
            "kept": [i != 33 for i in range(n)],
            "drop_reason": [("repeated_ngram" if i == 33 else None) for i in range(n)],
        }
    )
    md = transcript_markdown(None, segments, max_segments=8)
    items = [line for line in md.splitlines() if line.startswith("- `")]
    assert len(items) == 8
    assert "line 33" in items[-1] and "_dropped: repeated\\_ngram_" in items[-1]
    assert "- … 26 segments not shown" in md and "- … 6 segments not shown" in md


def test_transcript_markdown_from_words_only_and_empty():
    words, _ = transcript_tables()
    md = transcript_markdown(words, None, min_score=0.2)
    assert "**3 segments**, 0 dropped" in md and "**wrold**" not in md and "**thank**(0.10)" in md
    assert transcript_markdown(None, None) == "_no transcript: no segments and no words_"
    with pytest.raises(ValueError, match="max_segments"):
        transcript_markdown(None, None, max_segments=0)
    with pytest.raises(ValueError, match=r"missing \['segment'\]"):
        transcript_markdown(words.drop(columns=["segment"]), None)
    # score and speaker are optional: without them nothing is marked low
    bare = transcript_markdown(words.drop(columns=["score", "speaker"]), None)
    assert "0 below 0.4" in bare and "SPEAKER" not in bare


# -- summary -----------------------------------------------------------------------------------
def catalog_tables() -> dict[str, pd.DataFrame]:
    return {
        "videos": pd.DataFrame(
            {
                "video_id": ["a", "b"],
                "original_name": ["a.mp4", "b|c.mp4"],
                "duration_s": [3600.0, 1800.0],
            }
        ),
        "scenes": pd.DataFrame(
            {"video_id": ["a"] * 3 + ["b"] * 2, "is_short": [True, False, False, False, True]}
        ),
        "clips": pd.DataFrame(
            {
                "video_id": ["a", "a", "b"],
                "clip_id": ["a_1", "a_2", "b_1"],
                "duration_s": [10.0, 20.0, 30.0],
                "leaked_frames": [0, 0, 0],
            }
        ),
        "words": pd.DataFrame({"video_id": ["a", "a", "b"], "score": [0.9, 0.1, 0.5]}),
        "segments": pd.DataFrame({"video_id": ["a", "b", "b"], "kept": [True, False, True]}),
        "tokens": pd.DataFrame(
            {"clip_id": ["a_1", "a_2", "b_1"], "t": [2, 2, 3], "h": [4, 4, 4], "w": [8, 8, 8]}
        ),
        "shards": pd.DataFrame(
            {"path": ["s0.tar", "s1.tar"], "n_samples": [2, 1], "bytes": [1_500_000, 500_000]}
        ),
        "checks": pd.DataFrame(
            {
                "video_id": ["a", "a", "b", "b"],
                "check": ["leaked_frames", "short_scenes"] * 2,
                "passed": [True, True, True, False],
                "count": [0, 1, 0, 1],
            }
        ),
    }


def test_catalog_summary_numbers():
    md = catalog_summary_markdown(**catalog_tables())
    assert md.startswith("### Catalog: 2 videos, 1.50 h")
    for row in [
        "| videos | 2 |",
        "| hours | 1.50 |",
        "| scenes | 5 (2 short) |",
        "| kept clips | 3 (0.017 h, 0 leaked frames) |",
        "| words | 3 (1 below 0.4) |",
        "| segments | 3 (1 dropped) |",
        "| tokens | 224 in 3 files |",
        "| shards | 2 (3 samples, 2.0 MB) |",
        "| checks | 3 passed, 1 failed |",
    ]:
        assert row in md, row
    table = md[md.index("### Per video") :].splitlines()
    assert table[2] == (
        "| video | name | hours | scenes | short | clips | words | words < 0.4 | dropped segments "
        "| tokens | leaked_frames | short_scenes |"
    )
    # the video with a failed check comes first; | in a name is escaped
    assert table[4] == "| b | b\\|c.mp4 | 0.500 | 2 | 1 | 1 | 1 | 0 | 1 | 96 | ✓ 0 | **✗ 1** |"
    assert table[5] == "| a | a.mp4 | 1.000 | 3 | 1 | 2 | 2 | 1 | 0 | 128 | ✓ 0 | ✓ 1 |"


def test_catalog_summary_empty_partial_and_capped():
    assert catalog_summary_markdown().endswith("_no partitions yet_")
    md = catalog_summary_markdown(
        scenes=pd.DataFrame({"video_id": ["x"], "start_frame": [0]}), words=pd.DataFrame()
    )
    assert "| scenes | 1 |" in md and "| words | 0 |" in md and "hours" not in md
    assert md.startswith("### Catalog: 1 video\n") and "tokens" not in md and "clips" not in md
    many = pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(12)], "duration_s": 60.0})
    capped = catalog_summary_markdown(videos=many, max_videos=5)
    assert "_+7 more videos_" in capped and "| v04 |" in capped and "| v05 |" not in capped


def test_catalog_summary_bad_input():
    with pytest.raises(ValueError, match="passed"):
        catalog_summary_markdown(checks=pd.DataFrame({"video_id": ["a"], "check": ["x"]}))
    with pytest.raises(ValueError, match="max_videos"):
        catalog_summary_markdown(max_videos=0)


# -- helpers -----------------------------------------------------------------------------------
def test_png_markdown_embeds_small_and_shrinks_large(tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 20), (10, 200, 30)).save(small)
    md = png_markdown(small, "a [test]")
    assert md.startswith("![a (test)](data:image/png;base64,")
    data = base64.b64decode(re.search(r"base64,(.*)\)$", md).group(1))
    assert data == small.read_bytes()

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(
        noise
    )
    big = png_markdown(noise, "noise", max_bytes=200_000)
    data = base64.b64decode(re.search(r"base64,(.*)\)$", big).group(1))
    assert "image/jpeg" in big and len(data) <= 200_000
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert "too large" in png_markdown(noise, "noise", max_bytes=10_000)
    # bytes, as tokens.report returns them
    assert png_markdown(small.read_bytes(), "a [test]") == md
    with pytest.raises(ValueError, match="max_bytes"):
        png_markdown(noise, "noise", max_bytes=10)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0:00:00.0", id="zero"),
        pytest.param(83.44, "0:01:23.4", id="minutes"),
        pytest.param(59.96, "0:01:00.0", id="round-up"),
        pytest.param(3723.25, "1:02:03.2", id="hours"),
    ],
)
def test_hms(seconds, text):
    assert hms(seconds) == text
