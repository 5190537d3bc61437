import random

import pytest
from scenedetect.detector import SceneDetector

from video_assets.generate.synth import make_shots_video
from video_assets.keyframes import build_index
from video_assets.scenes import CascadeSettings, Detector, DetectorSettings, detect_scenes
from video_assets.scenes.detectors import DEFAULT_THRESHOLDS, DETECTORS, detector_for


def assert_cuts_match(found: list[int], truth: list[int], tol: int = 1) -> None:
    assert len(found) == len(truth), (found, truth)
    for f, t in zip(found, truth, strict=True):
        assert abs(f - t) <= tol, (found, truth)


@pytest.mark.parametrize(
    "fixture",
    [
        pytest.param("scenecut_video", id="scenecut-keyframes"),
        pytest.param("fixed_gop_video", id="fixed-gop-mid-gop-cuts"),
    ],
)
@pytest.mark.parametrize("mode", ["full", "cascade"])
def test_cuts_are_frame_exact(fixture, mode, request):
    video = request.getfixturevalue(fixture)
    result = detect_scenes(str(video.path), mode=mode)
    assert_cuts_match(result.cuts, video.cuts)
    scenes = result.scenes
    assert scenes[0].start_frame == 0 and scenes[-1].end_frame == video.frame_count
    assert all(a.end_frame == b.start_frame for a, b in zip(scenes, scenes[1:], strict=False))


def test_cascade_decodes_a_fraction_on_long_takes(long_take_video):
    full = detect_scenes(str(long_take_video.path), mode="full")
    cascade = detect_scenes(str(long_take_video.path), mode="cascade")
    assert cascade.mode == "cascade"
    assert cascade.cuts == full.cuts
    assert_cuts_match(cascade.cuts, long_take_video.cuts)
    assert full.frames_decoded == long_take_video.frame_count
    assert cascade.frames_decoded < 0.5 * full.frames_decoded
    # What was decoded, stretch by stretch (the bench replays it to time decoding alone):
    # every stretch starts on a keyframe and together they hold every frame decoded.
    assert full.decoded_runs == [(0, long_take_video.frame_count - 1)]
    keyframes = set(build_index(str(long_take_video.path)).keyframe_frames.tolist())
    assert all(a in keyframes and b >= a for a, b in cascade.decoded_runs)
    assert sum(b - a + 1 for a, b in cascade.decoded_runs) == cascade.frames_decoded
    assert {a for a, b in cascade.decoded_runs if a == b} == keyframes  # level 1: all of them
    assert any(b > a for a, b in cascade.decoded_runs)  # level 2


def test_cascade_finds_cuts_between_lookalike_keyframes(media):
    """A -> B -> A inside one GOP: both keyframes show shot A; only packet sizes reveal B."""
    video = make_shots_video(
        media / "aba.mp4",
        [40, 30, 130, 200],
        encoding="fixed_gop",
        gop=100,
        shot_styles=[1, 2, 1, 3],
        seed=5,
    )
    result = detect_scenes(str(video.path), mode="cascade")
    assert result.mode == "cascade" and result.level1["size_jumps"] >= 1
    assert_cuts_match(result.cuts, video.cuts)


def test_leaving_gops_early_keeps_every_cut(media, fixed_gop_video, long_take_video):
    """Level 2 leaves a marked GOP once its size jumps are behind and the frame matches the
    closing keyframe; the cuts must equal those of decoding every marked GOP whole."""
    aba = make_shots_video(
        media / "aba_early.mp4",
        [40, 30, 130, 200],
        encoding="fixed_gop",
        gop=100,
        shot_styles=[1, 2, 1, 3],
        seed=5,
    )
    whole = CascadeSettings(early_stop=False)
    for video in (fixed_gop_video, long_take_video, aba):
        early = detect_scenes(str(video.path), mode="cascade")
        slow = detect_scenes(str(video.path), mode="cascade", cascade=whole)
        assert early.cuts == slow.cuts, video.path.name
        assert_cuts_match(early.cuts, video.cuts)
        assert early.frames_decoded <= slow.frames_decoded
    assert early.level1["gops_left_early"] >= 1 or aba.cuts == []
    long_early = detect_scenes(str(long_take_video.path), mode="cascade")
    long_whole = detect_scenes(str(long_take_video.path), mode="cascade", cascade=whole)
    assert long_early.level1["gops_left_early"] >= 1
    assert long_early.frames_decoded < long_whole.frames_decoded


def test_fast_cuts_in_a_fixed_gop_go_straight_to_a_full_pass(media):
    """When packet-size jumps alone mark most of the video, no keyframe is decoded first."""
    video = make_shots_video(
        media / "fast_fixed.mp4",
        [20, 25, 22, 30, 24, 26, 21, 28, 25, 29, 27, 23],
        encoding="fixed_gop",
        gop=50,
        seed=9,
    )
    result = detect_scenes(str(video.path), mode="cascade")
    assert result.mode == "cascade->full"
    assert result.level1.get("keyframes_skipped") is True
    assert result.frames_decoded == video.frame_count  # the full pass only
    assert_cuts_match(result.cuts, video.cuts)


def test_level1_stops_once_a_full_pass_is_likely(media):
    """Fast cuts with keyframes on them: every GOP judged so far is marked, so level 1 stops
    after its probe instead of decoding every keyframe before the full pass."""
    rng = random.Random(4)
    video = make_shots_video(
        media / "fast_scenecut.mp4",
        [rng.randint(28, 40) for _ in range(48)],
        size=(160, 90),
        encoding="scenecut",
        audio="none",
        seed=4,
    )
    full = detect_scenes(str(video.path), mode="full")
    probed = detect_scenes(str(video.path), mode="cascade")
    no_probe = detect_scenes(
        str(video.path), mode="cascade", cascade=CascadeSettings(probe_share=1.0)
    )
    assert probed.mode == no_probe.mode == "cascade->full"
    assert probed.cuts == no_probe.cuts == full.cuts
    assert_cuts_match(full.cuts, video.cuts)
    stopped = probed.level1["stopped_at_gop"]
    assert CascadeSettings().probe_gops <= stopped < probed.level1["gops"] - 1
    assert "projected" in probed.level1["fallback"]
    assert probed.level1["keyframes_decoded"] < no_probe.level1["keyframes_decoded"]
    assert probed.frames_decoded < no_probe.frames_decoded


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"probe_share": 0.0}, id="probe-share-zero"),
        pytest.param({"probe_share": 1.5}, id="probe-share-over-one"),
        pytest.param({"probe_gops": 0}, id="probe-gops-zero"),
        pytest.param({"max_coverage": 0.0}, id="max-coverage-zero"),
    ],
)
def test_cascade_settings_are_validated(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CascadeSettings(**kwargs)


@pytest.mark.parametrize("mode", ["full", "cascade"])
def test_adaptive_detector(fixed_gop_video, mode):
    result = detect_scenes(
        str(fixed_gop_video.path), mode=mode, detector=DetectorSettings(detector="adaptive")
    )
    assert_cuts_match(result.cuts, fixed_gop_video.cuts)


def test_single_shot_has_one_scene(media):
    video = make_shots_video(media / "single.mp4", [150], encoding="fixed_gop", gop=50)
    for mode in ("full", "cascade"):
        result = detect_scenes(str(video.path), mode=mode)
        assert [(s.start_frame, s.end_frame) for s in result.scenes] == [(0, 150)]


def test_fade_is_not_split_into_many_scenes(media):
    video = make_shots_video(
        media / "fade.mp4", [100, 100, 100], encoding="fixed_gop", gop=50, fade_frames=20
    )
    full = detect_scenes(str(video.path), mode="full")
    cascade = detect_scenes(str(video.path), mode="cascade")
    assert cascade.cuts == full.cuts
    # The hard cut is found exactly; the fade gives at most one cut inside its 20 frames.
    assert any(abs(c - video.cuts[1]) <= 1 for c in full.cuts)
    assert len([c for c in full.cuts if abs(c - video.cuts[0]) <= 10]) <= 1


def test_settings_are_validated():
    with pytest.raises(ValueError, match="detector must be one of"):
        DetectorSettings(detector="histogram")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold must be in"):
        DetectorSettings(threshold=0)
    with pytest.raises(ValueError, match="size_ratio must be > 1"):
        CascadeSettings(size_ratio=0.5)
    with pytest.raises(ValueError, match="mode must be"):
        detect_scenes("x.mp4", mode="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_is_one_class_behind_the_interface(name):
    settings = DetectorSettings(detector=name)  # type: ignore[arg-type]
    det = detector_for(settings)
    assert isinstance(det, Detector) and det.name == name
    assert settings.effective_threshold == det.default_threshold == DEFAULT_THRESHOLDS[name]
    assert settings.effective_min_scene_len == det.default_min_scene_len
    assert isinstance(det.build(det.min_scene_len, 100), SceneDetector)
    before, after = det.context_frames
    assert before >= 0 and after >= 0
    assert det.filter_cuts([30, 60, 61, 90], 120) == [30, 60, 90]
