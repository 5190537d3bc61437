"""Motion per clip: generated clips whose camera motion and transitions are known.

Every clip is cut from one random texture (colour blobs, built in the filter graph and
looped), 320x180 at 25 fps, so the analysis resolution is the clip's own and speeds are
in the clip's pixels. H.264 clips use x264 ``medium`` (three references and a B-pyramid: a
P-frame's vectors reach back 4, 6 or 8 frames), so the reference resolution is exercised.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.motion.assets import clip_motion
from dagster_project.defs.motion.checks import inner_discontinuity, static_clips
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from video_assets import cli
from video_assets.catalog import TABLE_COLUMNS, connect
from video_assets.errors import MediaError
from video_assets.generate.bad_media import CASES as BAD_CASES
from video_assets.motion import MotionSettings, measure_clip, measure_clips, static_reason
from video_assets.motion.result import ROW_COLUMNS
from video_assets.motion.table import TABLE_COLUMNS as MOTION_COLUMNS
from video_assets.motion.table import measure_clip_table
from video_assets.motion.vectors import h264_is_reference
from video_assets.registry import register
from video_assets.store import DataRoot

TEXTURE = (
    "color=c=gray:s=48x27:r=25,format=yuv420p,noise=c0s=100:c1s=60:c2s=60:allf=0,"
    "scale=960:540:flags=bicubic,noise=alls=30:allf=0,gblur=sigma=1,"
    "loop=loop=-1:size=1:start=0"
)
X264 = ("-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p")
PAN = "crop=320:180:x='100+n*4':y=200"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make(path: Path, graph: str, frames: int, codec: tuple[str, ...] = X264) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"{TEXTURE},{graph}", "-frames:v", str(frames), *codec, str(path))
    return path


@dataclass(frozen=True)
class Case:
    """A generated clip and what must be found in it.

    ``speed`` is pixels per frame (the zoom's at the side edge); ``worst`` the first frame
    after the cut or flash; ``reason`` the static_reason.
    """

    graph: str
    frames: int
    camera: str
    speed: float = 0.0
    worst: int | None = None
    kind: str = ""
    reason: str = ""
    method: str = "vectors"
    codec: tuple[str, ...] = X264


SLIDES = (
    "crop=320:180:x='if(lt(n,30),0,if(lt(n,60),640,320))':y='if(lt(n,30),0,if(lt(n,60),360,180))'"
)
CASES = {
    "still-5s": Case("crop=320:180:200:150", 125, "static", reason="static"),
    "slideshow": Case(SLIDES, 90, "static", kind="cut", reason="slideshow"),
    "pan": Case(PAN, 75, "pan", 4.0),
    "tilt": Case("crop=320:180:x=300:y='20+n*3'", 75, "tilt", 3.0),
    "zoom": Case(
        "zoompan=z='pow(1.01,on)':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=320x180:fps=25",
        75,
        "zoom",
        0.01 * 160,
    ),
    "frozen-middle": Case("crop=320:180:x='100+4*(n-clip(n-30,0,20))':y=200", 75, "pan", 4.0),
    "flash": Case(f"{PAN},drawbox=c=white:t=fill:enable='eq(n,40)'", 75, "pan", 4.0, 40, "flash"),
    "hard-cut": Case("crop=320:180:x='100+n*4':y='if(lt(n,40),20,340)'", 75, "pan", 4.0, 40, "cut"),
    "roll": Case("rotate=a='0.02*n',crop=320:180", 50, "complex"),
    "pan-mpeg2": Case(
        PAN, 75, "pan", 4.0, codec=("-c:v", "mpeg2video", "-q:v", "3", "-bf", "2", "-g", "12")
    ),
    "pan-mjpeg": Case(
        PAN, 75, "pan", 4.0, method="framediff", codec=("-c:v", "mjpeg", "-q:v", "3")
    ),
    "pan-intra-mpeg2": Case(
        PAN,
        75,
        "pan",
        4.0,
        method="framediff",
        codec=("-c:v", "mpeg2video", "-q:v", "3", "-g", "1"),
    ),
}


@pytest.fixture(scope="module")
def motion_clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("motion")
    out = {}
    for name, case in CASES.items():
        ext = "mp4" if case.codec == X264 else "mkv"
        out[name] = make(folder / f"{name}.{ext}", case.graph, case.frames, case.codec)
    return out


@pytest.fixture(scope="module")
def measured(motion_clips) -> dict:
    return {name: measure_clip(path) for name, path in motion_clips.items()}


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CASES])
def test_generated_case(name, measured):
    case, m = CASES[name], measured[name]
    assert m.frames == case.frames
    assert m.method == case.method, m.fallback
    assert m.camera == case.camera, m.to_json()
    if case.speed:
        assert abs(m.camera_speed_px - case.speed) <= 0.15 * case.speed, m.to_json()
    assert m.static_reason == case.reason, m.to_json()
    if case.worst is not None:
        assert (m.worst_frame, m.worst_kind) == (case.worst, case.kind), m.to_json()
    elif not case.kind:
        assert m.worst_kind == "" and m.cuts == m.flashes == 0, m.to_json()


def test_directions_and_zoom(measured):
    # Content moves left in a pan whose crop slides right, up in a tilt sliding down.
    assert measured["pan"].camera_dx_px == pytest.approx(-4.0, abs=0.2)
    assert measured["tilt"].camera_dy_px == pytest.approx(-3.0, abs=0.15)
    assert measured["zoom"].camera_zoom == pytest.approx(0.01, rel=0.15)
    assert measured["pan-intra-mpeg2"].fallback.startswith("no motion vectors")
    assert "mjpeg" in measured["pan-mjpeg"].fallback


def test_freeze_in_the_middle_of_a_pan(measured):
    m = measured["frozen-middle"]
    # Frames 31-50 repeat frame 30. P-frames measure motion since the previous P-frame, so
    # the run's ends are known to within the distance between them.
    assert 29 <= m.freeze_start <= 35 and 14 <= m.freeze_frames <= 22, m.to_json()
    assert m.static_share == pytest.approx(20 / 74, abs=0.08)
    assert m.static_reason == ""


def test_slideshow_counts_each_cut(measured):
    m = measured["slideshow"]
    assert m.cuts == 2 and m.worst_frame in (30, 60)
    assert m.static_share == 1.0 and m.mean_motion_px < 0.05


def test_forced_frame_differences_agree(motion_clips):
    m = measure_clip(motion_clips["pan"], MotionSettings(method="framediff"))
    assert m.method == "framediff" and m.camera == "pan"
    assert m.camera_speed_px == pytest.approx(4.0, rel=0.15)


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=n) for n in ("pan", "zoom", "frozen-middle", "flash", "hard-cut")]
)
def test_skipping_nonreference_frames_agrees_with_decoding_all(name, motion_clips, measured):
    fast, full = measured[name], measure_clip(motion_clips[name], MotionSettings(skip_nonref=False))
    assert fast.camera == full.camera and fast.frames == full.frames
    assert fast.camera_speed_px == pytest.approx(full.camera_speed_px, rel=0.02, abs=1e-6)
    assert (fast.worst_kind, fast.cuts, fast.flashes) == (full.worst_kind, full.cuts, full.flashes)
    if full.worst_kind:
        assert fast.worst_frame == full.worst_frame
    assert fast.mean_similarity == pytest.approx(full.mean_similarity, abs=0.01)
    assert fast.static_reason == full.static_reason


# A fixed B-pyramid (no adaptive B-frames, no scene cuts): frames 4k+1 and 4k+3 are
# non-reference B-frames, which the fast pass does not decode.
FIXED_PYRAMID = (*X264, "-x264-params", "scenecut=0:b-adapt=0:bframes=3:b-pyramid=normal")


@pytest.mark.parametrize(
    ("graph", "kind"),
    [
        pytest.param(f"{PAN},drawbox=c=white:t=fill:enable='eq(n,41)'", "flash", id="flash"),
        pytest.param("crop=320:180:x='100+n*4':y='if(lt(n,41),20,340)'", "cut", id="cut"),
    ],
)
def test_transition_on_a_skipped_frame_is_placed(graph, kind, tmp_path):
    path = make(tmp_path / f"{kind}.mp4", graph, 75, FIXED_PYRAMID)
    with av.open(str(path)) as container:
        refs = sorted(
            (p.pts, h264_is_reference(bytes(p), 4)) for p in container.demux(video=0) if p.size
        )
    assert [ref for _, ref in refs[40:43]] == [True, False, True]  # frame 41 is skipped
    m = measure_clip(path)
    assert (m.worst_frame, m.worst_kind) == (41, kind), m.to_json()
    assert m.camera == "pan" and m.camera_speed_px == pytest.approx(4.0, rel=0.15)


def test_rows_are_stable_and_rejudged_from_the_table(motion_clips, measured):
    again = measure_clip(motion_clips["hard-cut"])
    assert again.to_row() == measured["hard-cut"].to_row()  # frame threads, same figures
    row = measured["still-5s"].to_row()
    assert list(row) == list(ROW_COLUMNS)
    assert static_reason(row, MotionSettings()).reason == "static"
    # The same stored figures under a threshold no clip reaches: nothing is static.
    lenient = MotionSettings(min_motion_px=0.0, max_static_share=1.0)
    assert static_reason(measured["pan"].to_row(), lenient) is None
    assert static_reason(measured["slideshow"].to_row(), lenient).reason == "slideshow"


def test_settings_are_validated():
    with pytest.raises(ValueError, match="analysis_width"):
        MotionSettings(analysis_width=10)
    with pytest.raises(ValueError, match="method"):
        MotionSettings(method="optical")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        MotionSettings(workers=-1)
    assert MotionSettings(workers=3).worker_count(2) == 2
    assert MotionSettings(workers=0).worker_count(1) == 1
    assert 1 <= MotionSettings(workers=0).worker_count(10) <= 2


def test_h264_reference_flag():
    # nal_ref_idc lives in bits 5-6 of the NAL header; SEI (6) is skipped, slices (1, 5) read.
    sei, ref_slice, nonref_slice = b"\x06\x05\x00", b"\x41\x9a", b"\x01\x9e"
    avcc = lambda *nals: b"".join(len(n).to_bytes(4, "big") + n for n in nals)  # noqa: E731
    assert h264_is_reference(avcc(sei, ref_slice), 4) is True
    assert h264_is_reference(avcc(sei, nonref_slice), 4) is False
    assert h264_is_reference(b"\x00\x00\x00\x01" + sei + b"\x00\x00\x01" + nonref_slice, 0) is False
    assert h264_is_reference(avcc(sei), 4) is None


def test_cli_folder_json(motion_clips, capsys):
    folder = motion_clips["pan"].parent
    assert cli.main(["motion", str(folder), "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    by_name = {Path(c["path"]).stem: c for c in payload["clips"]}
    assert set(by_name) == set(CASES)
    assert by_name["flash"]["worst_kind"] == "flash" and by_name["flash"]["worst_frame"] == 40
    assert by_name["pan"]["camera"] == "pan" and payload["analysis_width"] == 320


# The longest clip first, so clips finish out of input order with two workers.
SOME = ["still-5s", "pan-mjpeg", "flash", "hard-cut"]


def _same_figures(a, b) -> None:
    assert [m.path for m in a] == [m.path for m in b]
    assert [m.to_row() for m in a] == [m.to_row() for m in b]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.motion, y.motion, equal_nan=True)
        assert np.array_equal(x.similarity, y.similarity, equal_nan=True)


def test_clips_measured_at_once_match_one_at_a_time(motion_clips):
    paths = [motion_clips[n] for n in SOME]
    runs = {}
    for workers in (1, 2):
        calls: list[tuple[int, int]] = []
        settings = MotionSettings(workers=workers)
        runs[workers] = measure_clips(
            paths, settings, lambda d, t, calls=calls: calls.append((d, t))
        )
        assert calls == [(i, len(paths)) for i in range(1, len(paths) + 1)]
    _same_figures(runs[1], runs[2])
    assert [m.path for m in runs[2]] == [str(p) for p in paths]
    assert [m.method for m in runs[2]] == ["vectors", "framediff", "vectors", "vectors"]

    # The clip_motion table: the same rows in the clips table's order.
    root = DataRoot(motion_clips["pan"].parent)
    clip_rows = pd.DataFrame(
        {
            "video_id": "v",
            "clip_id": [f"c{i}" for i in range(len(paths))],
            "path": [p.name for p in paths],
            "start_frame": [0, 125, 200, 275],
        }
    )
    tables = [measure_clip_table(root, clip_rows, MotionSettings(workers=w)).rows for w in (1, 2)]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert list(tables[1]["worst_source_frame"])[2:] == [240, 315]  # start_frame + 40


def test_a_bad_clip_among_good_ones_fails_as_one_at_a_time(motion_clips, bad_corpus):
    # Two bad files: the first in input order names itself, whichever fails first.
    paths = [
        motion_clips["still-5s"],
        bad_corpus["random-bytes"],
        motion_clips["pan"],
        bad_corpus["audio-only"],
    ]
    errors = {}
    for workers in (1, 2):
        calls: list[int] = []
        with pytest.raises(MediaError) as info:
            measure_clips(
                paths, MotionSettings(workers=workers), lambda d, t, calls=calls: calls.append(d)
            )
        errors[workers] = str(info.value)
        assert calls == [1]  # the clip before the bad one, and nothing after it
    assert errors[1] == errors[2]
    assert "random.mp4" in errors[2] and "is not a readable media file" in errors[2]


def test_catalog_columns_match_the_library():
    assert TABLE_COLUMNS["clip_motion"] == MOTION_COLUMNS


@pytest.mark.parametrize("case", [pytest.param(c, id=c.case) for c in BAD_CASES])
def test_bad_corpus(case, bad_corpus, capsys):  # noqa: F811 - the fixture
    rc = cli.main(["motion", str(bad_corpus[case.case]), "--json", "--quiet"])
    out, err = capsys.readouterr()
    if case.outcome == "error":
        assert rc == 2 and not out and case.problem in err, err
        return
    if case.outcome == "ok-or-error" and rc == 2:
        assert "Traceback" not in err and str(bad_corpus[case.case].name) in err
        return
    assert rc == 0, err
    (m,) = json.loads(out)["clips"]
    if case.outcome == "ok" and case.frames is not None:
        assert m["frames"] == case.frames
    if case.outcome == "ok" and case.cuts == (30,):
        # testsrc2 cut to smptebars at frame 30: a cut the clip would hold if it were one.
        assert (m["worst_frame"], m["worst_kind"]) == (30, "cut"), m


def test_missing_file_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="nope.mp4: does not exist"):
        measure_clip(tmp_path / "nope.mp4")


@pytest.fixture(scope="module")
def pan_then_still(tmp_path_factory) -> Path:
    """A 60-frame pan (2 px a frame) with a flash at frame 30, cut to a 50-frame still, in a
    fixed 100-frame GOP. The hybrid scene detector keeps the flash inside the first shot (at
    4 px a frame the picture after the flash is too unlike the one before it, and it cuts)."""
    folder = tmp_path_factory.mktemp("motion-video")
    graph = (
        f"{TEXTURE},split[a][b];"
        "[a]crop=320:180:x='100+n*2':y=200,drawbox=c=white:t=fill:enable='eq(n,30)',"
        "trim=end_frame=60[pan];"
        "[b]crop=320:180:x=500:y=300,trim=end_frame=50,setpts=PTS-STARTPTS[still];"
        "[pan][still]concat=n=2:v=1"
    )
    path = folder / "pan then still.mp4"
    gop = ("-g", "100", "-keyint_min", "100", "-sc_threshold", "0")
    ffmpeg("-f", "lavfi", "-i", graph, "-frames:v", "110", *X264, *gop, str(path))
    return path


def test_clip_motion_asset_and_checks(pan_then_still, tmp_path):
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(tmp_path / "landing"))
    vid = register(store.root(), pan_then_still).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    result = dg.materialize(
        [
            source_video,
            iframe_index,
            scene_table,
            clips,
            clip_motion,
            static_clips,
            inner_discontinuity,
        ],
        partition_key=vid,
        instance=instance,
        resources={"store": store, "video_config": VideoStageConfig(min_clip_s=1.0)},
    )
    assert result.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    # The still is static; the flash the hybrid detector left inside the pan is flagged,
    # at its frame in the source video.
    assert not checks["static_clips"].passed
    assert checks["static_clips"].severity == dg.AssetCheckSeverity.WARN
    assert checks["static_clips"].metadata["violations"].value == 1
    assert not checks["inner_discontinuity"].passed
    meta = next(
        e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == clip_motion.key
    )
    assert meta["clips"].value == 2 and "motion_strip" in meta
    with connect(store.root()) as con:
        rows = con.execute(
            "SELECT camera, static_reason, worst_kind, worst_source_frame, cuts FROM clip_motion "
            "WHERE video_id = $v ORDER BY clip_id",
            {"v": vid},
        ).fetchall()
    assert rows == [("pan", "", "flash", 30, 0), ("static", "static", "", rows[1][3], 0)]

    # Idempotent: measured again, the same table and the same motion strip, byte for byte.
    root = store.root()
    written = [
        root.local_path(root.table_rel("clip_motion", vid)),
        root.local_path(root.rel("previews", vid, "motion_strip.png")),
    ]
    before = {p: p.read_bytes() for p in written}
    again = dg.materialize(
        [clip_motion],
        partition_key=vid,
        instance=instance,
        resources={"store": store, "video_config": VideoStageConfig(min_clip_s=1.0)},
    )
    assert again.success and len(before) == 2
    assert {p: p.read_bytes() for p in before} == before


def test_vectors_are_the_same_on_every_run(motion_clips):
    """FFmpeg's frame threads can export a picture's vectors while another thread still
    decodes it (most often as the decoder drains at the end): every run, with the
    decoder's own thread count, must give the figures of a decoder with one thread."""
    for name in ("pan", "zoom", "frozen-middle", "flash"):
        path = motion_clips[name]
        one = measure_clip(path, MotionSettings(threads=1))
        assert one.method == "vectors"
        for _ in range(3):
            _same_figures([one], [measure_clip(path, MotionSettings(threads=0))])
