"""Clips of a trainable length: a long take is cut into windows at keyframes by stream copy.

The long take is one generated shot of 56 s (1400 frames at 25 fps, 160x90) in a fixed
50-frame GOP with B-frames: keyframes every 2 s, so windows of at most 20 s can be 18, 20
and 18 s long.
"""

from __future__ import annotations

import hashlib

import av
import dagster as dg
import pandas as pd
import pytest

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from video_assets.catalog import connect
from video_assets.clips import ClipSettings, split_video, window_bounds
from video_assets.errors import ConfigError
from video_assets.generate.synth import SyntheticVideo, make_shots_video
from video_assets.keyframes import build_index
from video_assets.registry import register
from video_assets.scenes import Scene

FPS = 25
FRAMES = 1400
GOP = 50


def frame_hashes(path) -> list[str]:
    with av.open(str(path)) as c:
        return [
            hashlib.md5(f.to_ndarray(format="yuv420p").tobytes()).hexdigest()
            for f in c.decode(video=0)
        ]


@pytest.fixture(scope="module")
def long_take(tmp_path_factory) -> SyntheticVideo:
    folder = tmp_path_factory.mktemp("long-take")
    return make_shots_video(
        folder / "take.mp4", [FRAMES], size=(160, 90), encoding="fixed_gop", gop=GOP, seed=7
    )


@pytest.fixture(scope="module")
def source_hashes(long_take) -> list[str]:
    return frame_hashes(long_take.path)


def whole(start: int = 0, end: int = FRAMES) -> Scene:
    return Scene(0, start, end, start / FPS, end / FPS)


@pytest.mark.parametrize(
    "scene",
    [
        pytest.param(whole(), id="whole-take"),
        pytest.param(whole(30, 1370), id="scene-mid-gop"),
    ],
)
def test_long_take_is_cut_into_copied_windows(long_take, source_hashes, scene, tmp_path):
    index = build_index(long_take.path)
    settings = ClipSettings(max_clip_s=20.0, min_duration_s=3.0)
    got = split_video(
        long_take.path, [scene], tmp_path, settings=settings, index=index, clip_prefix="v_"
    )
    assert len(got) == 3
    assert [c.window_index for c in got] == [0, 1, 2]
    assert [c.clip_id for c in got] == ["v_00000_w000", "v_00000_w001", "v_00000_w002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{c.clip_id}.mp4" for c in got]
    # Contiguous, every window starting on a keyframe, inside the scene (its first keyframe
    # to the end of its last whole GOP), stream copied, within the lengths asked for.
    assert got[0].start_frame == index.keyframe_at_or_after(scene.start_frame)
    for c, nxt in zip(got, got[1:], strict=False):
        assert c.end_frame == nxt.start_frame
    assert scene.end_frame - GOP < got[-1].end_frame <= scene.end_frame
    for c in got:
        assert c.scene_index == 0 and c.method == "copy" and c.leaked_frames == 0
        assert index.is_key[c.start_frame]
        assert settings.min_duration_s <= c.duration_s <= settings.max_clip_s + 1e-6
    lengths = [c.end_frame - c.start_frame for c in got]
    assert max(lengths) - min(lengths) <= GOP  # as even as 2 s keyframes allow
    # Lost frames are counted once: the scene's frames no window holds.
    held = sum(lengths)
    assert sum(c.lost_frames for c in got) == scene.frame_count - held
    # Frame-exact: each window decodes to the source's frames it claims.
    for c in got:
        assert frame_hashes(c.path) == source_hashes[c.start_frame : c.end_frame], c.clip_id


def test_whole_scenes_when_max_is_zero(long_take, tmp_path):
    got = split_video(
        long_take.path,
        [whole()],
        tmp_path,
        settings=ClipSettings(max_clip_s=0.0),
        clip_prefix="v_",
    )
    assert [(c.clip_id, c.window_index, c.start_frame, c.end_frame) for c in got] == [
        ("v_00000", 0, 0, FRAMES)
    ]


def test_windows_are_idempotent(long_take, tmp_path):
    index = build_index(long_take.path)
    runs = []
    for k in range(2):
        out = tmp_path / str(k)
        split_video(long_take.path, [whole()], out, settings=ClipSettings(), index=index)
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_reencoded_windows_stay_at_keyframes(long_take, tmp_path):
    index = build_index(long_take.path)
    got = split_video(
        long_take.path,
        [whole(30, 1370)],
        tmp_path,
        settings=ClipSettings(mode="reencode", max_clip_s=20.0),
        index=index,
    )
    assert len(got) == 3 and {c.method for c in got} == {"reencode"}
    assert got[0].start_frame == 30 and got[-1].end_frame == 1370
    for c, nxt in zip(got, got[1:], strict=False):
        assert c.end_frame == nxt.start_frame and index.is_key[nxt.start_frame]
    assert sum(c.lost_frames for c in got) == 0


@pytest.mark.parametrize(
    "times,max_s,min_s,want",
    [
        pytest.param([0, 10, 19.9], 20, 3, [0, 2], id="short-enough"),
        pytest.param([0, 10, 30], 0, 3, [0, 2], id="max-zero"),
        pytest.param([0, 2, 4, 6, 8, 10, 12], 5, 1, [0, 2, 4, 6], id="fewest-then-even"),
        pytest.param([0, 9, 10, 11, 30], 20, 3, [0, 3, 4], id="most-even"),
        # Keyframes too sparse for 20 s: windows as long as they must be, none under 3 s.
        pytest.param([0, 1, 25, 50], 20, 3, [0, 2, 3], id="sparse-keyframes"),
        pytest.param([0, 25, 50, 60], 20, 3, [0, 1, 2, 3], id="sparse-with-tail"),
        # 3 windows of at least 8 s cannot be made of 21 s: two, even as the places allow.
        pytest.param([0, 7, 10.5, 14, 21], 10, 8, [0, 2, 4], id="min-wins-over-max"),
    ],
)
def test_window_bounds(times, max_s, min_s, want):
    assert window_bounds(times, max_s, min_s) == want


def test_max_clip_validated():
    with pytest.raises(ValueError, match="max_clip_s must be 0"):
        ClipSettings(max_clip_s=2.0, min_duration_s=3.0)
    with pytest.raises(ValueError, match="max_clip_s must be 0"):
        ClipSettings(max_clip_s=-1.0)
    assert ClipSettings(max_clip_s=0.0).max_clip_s == 0.0
    with pytest.raises(ConfigError, match="max_clip_s"):
        VideoStageConfig(max_clip_s=1.0).clip_settings()


def test_clips_asset_writes_window_rows(long_take, tmp_path):
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(tmp_path / "landing"))
    root = store.root()
    vid = register(root, long_take.path).video_id
    # One scene covering the take, as the scene stage writes it.
    root.write_table(
        "scenes",
        vid,
        pd.DataFrame(
            [
                {
                    "video_id": vid, "scene_index": 0, "start_frame": 0, "end_frame": FRAMES,
                    "start_s": 0.0, "end_s": FRAMES / FPS, "duration_s": FRAMES / FPS,
                    "is_short": False, "detector": "given", "mode": "full",
                }
            ]
        ),
    )  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    resources = {"store": store, "video_config": VideoStageConfig()}
    ingest = dg.materialize(
        [source_video, iframe_index], partition_key=vid, instance=instance, resources=resources
    )
    assert ingest.success
    for max_clip_s, want in ((20.0, [0, 1, 2]), (0.0, [0])):
        result = dg.materialize(
            [clips],
            partition_key=vid,
            instance=instance,
            resources={"store": store, "video_config": VideoStageConfig(max_clip_s=max_clip_s)},
        )
        assert result.success
        with connect(root) as con:
            rows = con.execute(
                "SELECT scene_index, window_index, duration_s FROM clips WHERE video_id = $v "
                "ORDER BY clip_id",
                {"v": vid},
            ).fetchall()
        assert [r[1] for r in rows] == want
        assert all(r[0] == 0 and r[2] <= max(max_clip_s, FRAMES / FPS) for r in rows)
