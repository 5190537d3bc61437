"""Smoke test of bench/scenes.py: its functions on one 20 s, 320x180 video."""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import pytest

from tests.conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    yield load_bench("scenes")
    sys.modules.pop("bench_scenes", None)


@pytest.mark.parametrize(
    ("found", "reference", "matched"),
    [
        pytest.param([10, 50], [10, 50], 2, id="exact"),
        pytest.param([11, 49], [10, 50], 2, id="within-one-frame"),
        pytest.param([12], [10], 0, id="two-frames-off"),
        pytest.param([10, 11], [10], 1, id="one-to-one"),
        pytest.param([], [10], 0, id="nothing-found"),
    ],
)
def test_match_cuts(bench, found, reference, matched):
    m = bench.match_cuts(found, reference)
    assert m.matched == matched
    assert m.recall == (matched / len(reference))
    assert m.precision == (matched / len(found) if found else 1.0)


def test_bench_video_end_to_end(bench, tmp_path):
    spec = bench.VideoSpec(
        "long-take", "fixed_gop", minutes=20 / 60, height=180, gop=50, shot_range_s=(3.5, 6.0)
    )
    prepared = bench.prepare_video(spec, tmp_path)
    assert not prepared.reused and prepared.cuts
    assert bench.prepare_video(spec, tmp_path).reused  # the sidecar matches: no second render

    result = bench.bench_video(prepared, repeats=1, say=lambda _msg: None)
    assert result.frames == prepared.frame_count == 500
    assert result.index.keyframes_agree and result.index.full_decode_frames == 500
    assert result.full.frames_decoded == 500
    assert result.cascade_vs_full.recall == 1.0
    assert result.full_vs_truth.recall == 1.0
    assert result.copy.leaked_frames == result.copy.leaked_measured == 0
    assert result.copy.bad_files == result.reencode.bad_files == 0
    assert result.reencode.reencoded == result.reencode.clips > 0
    # Every clip is timed in both runs, so the copy gain on copyable clips can be given.
    assert set(result.copy.clip_s) == set(result.reencode.clip_s) == set(result.copy.methods)
    assert all(s > 0 for s in result.reencode.clip_s.values())
    copied = [k for k, m in result.copy.methods.items() if m == "copy"]
    assert copied and math.isfinite(result.copyable_speedup)
    # The tutorial recipe beside ours: stream copy without keyframe snapping leaks frames
    # of the neighbouring shot into clips whose cut falls mid-GOP.
    assert result.recipe is not None and result.recipe.clips > 0
    assert result.recipe.leaked_frames + result.recipe.hidden_frames > 0
    assert math.isfinite(result.stage_s) and result.time_to_frames > 0
    names = {t.name for t in result.targets}
    assert "cascade speedup (full / cascade)" in names and "leaked frames (copy)" in names
    # What the cascade decoded, decoded again alone beside a full decode: the bound the
    # frames it must decode set on its gain, and the goal judged against it.
    assert result.cascade.mode == "cascade"
    bound = result.decode_bound
    assert bound is not None and bound.replay_s > 0 and bound.full_s > 0
    assert bound.packets >= sum(b - a + 1 for a, b in result.cascade.decoded_runs)
    assert bound.packets < result.frames
    assert math.isfinite(result.time_to_decode)
    goal = {"cascade speedup, goal", "decode-alone ratio / time ratio (cap < 5x)"}
    assert len(names & goal) == 1
    assert "decode-alone ratio c/f" in bench.format_table([result])

    json.dumps(result.to_json())  # serialisable as written by main()
    table = bench.format_table([result])
    assert "long-take/fixed_gop" in table and "split_speedup" in table
    assert "copied clips only" in table and "recipe: leaked (clips)" in table
    assert not list(tmp_path.glob("clips-*"))  # scratch clips are removed
    assert not list(tmp_path.glob("*-recipe"))

    # Without the split comparison the table and the targets leave the split out.
    no_split = dataclasses.replace(result, copy=None, reencode=None)
    assert "split speedup (re-encode / copy)" not in {
        t.name for t in bench.evaluate_targets(no_split)
    }
    assert json.loads(json.dumps(no_split.to_json()))["split_speedup"] is None
    assert "split_speedup" in bench.format_table([no_split])
