import pytest

from video_assets.scenes import CascadeSettings, DetectorSettings, detect_scenes
from video_assets.synth import make_shots_video


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
