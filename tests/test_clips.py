import av
import numpy as np
import pytest

from video_assets.clips import ClipSettings, copy_span, split_video
from video_assets.keyframes import build_index
from video_assets.probe import probe
from video_assets.scenes import detect_scenes, scenes_from_cuts


def decode_all(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def source_frames(fixed_gop_video, scenecut_video):
    return {v.path: decode_all(v.path) for v in (fixed_gop_video, scenecut_video)}


@pytest.mark.parametrize("fixture", ["scenecut_video", "fixed_gop_video"])
@pytest.mark.parametrize("mode", ["copy", "reencode"])
def test_clips_hold_only_their_scene(fixture, mode, request, tmp_path, source_frames):
    video = request.getfixturevalue(fixture)
    index = build_index(video.path)
    scenes = scenes_from_cuts(video.cuts, index)
    clips = split_video(
        video.path,
        scenes,
        tmp_path,
        settings=ClipSettings(mode=mode, min_duration_s=1.0),
        index=index,
    )
    src = source_frames[video.path]
    assert clips, "every scene of the fixture is longer than 1 s"
    for clip in clips:
        scene = scenes[clip.scene_index]
        assert clip.leaked_frames == 0
        assert scene.start_frame <= clip.start_frame < clip.end_frame <= scene.end_frame
        assert clip.lost_frames == scene.frame_count - (clip.end_frame - clip.start_frame)
        frames = decode_all(clip.path)
        assert len(frames) == clip.end_frame - clip.start_frame
        # Each decoded frame is the source frame it claims to be: identical for a stream
        # copy, close for a re-encode, and far from every frame of the neighbouring shots.
        for j, frame in enumerate(frames):
            err = np.abs(frame - src[clip.start_frame + j]).mean()
            assert err < (0.01 if clip.method == "copy" else 4.0), (clip.clip_id, j, err)
        for neighbour in (scene.start_frame - 1, scene.end_frame):
            if 0 <= neighbour < len(src):
                assert (
                    np.abs(frames[0] - src[neighbour]).mean() > 10
                    or np.abs(frames[-1] - src[neighbour]).mean() > 10
                )
        with av.open(clip.path) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            first = next(c.demux(video=0))
            assert first.is_keyframe
        if mode == "reencode":
            assert clip.method == "reencode" and clip.lost_frames == 0


def test_copy_starts_on_keyframe_and_ends_before_next_scene(fixed_gop_video):
    index = build_index(fixed_gop_video.path)
    # Scene 215..285 holds no keyframe (keyframes at 0, 100, 200, 300, 400).
    assert copy_span(index, 215, 285) is None
    a, b = copy_span(index, 185, 285)
    assert a == 200 and b <= 285
    assert copy_span(index, 0, 60) == (0, pytest.approx(60, abs=3))


@pytest.mark.parametrize(
    "codec,tolerance_s",
    [
        ("alac", 0.001),  # lossless, starts on the sample of the first frame
        ("aac", 0.05),  # within two AAC frames
    ],
)
def test_audio_stays_in_sync(codec, tolerance_s, fixed_gop_video, tmp_path):
    index = build_index(fixed_gop_video.path)
    clips = split_video(
        fixed_gop_video.path,
        scenes_from_cuts(fixed_gop_video.cuts, index),
        tmp_path,
        settings=ClipSettings(min_duration_s=1.0, audio_codec=codec),
        index=index,
    )
    assert {c.method for c in clips} == {"copy", "reencode"}  # both paths are checked
    with av.open(str(fixed_gop_video.path)) as src:  # the synthetic tone ends before the video
        s_audio = src.streams.audio[0]
        source_audio_end = float((s_audio.start_time + s_audio.duration) * s_audio.time_base)
    for clip in clips:
        info = probe(clip.path)
        assert [a.codec for a in info.audio] == [codec]
        with av.open(clip.path) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            v_start = float(v.start_time * v.time_base)
            a_start = float(a.start_time * a.time_base)
            v_end = v_start + float(v.duration * v.time_base)
            a_end = a_start + float(a.duration * a.time_base)
        assert abs(v_start - a_start) < tolerance_s, clip.clip_id
        # Known: ffmpeg stops the file when the video reaches its frame count, so the last
        # 0.1-0.2 s of audio is missing (two video frames here); never more.
        want_end = min(v_end, v_start + source_audio_end - clip.start_s)
        assert -0.2 < a_end - want_end <= tolerance_s, clip.clip_id


def test_short_scenes_are_not_cut(fixed_gop_video, tmp_path):
    index = build_index(fixed_gop_video.path)
    scenes = scenes_from_cuts(fixed_gop_video.cuts, index)
    clips = split_video(
        fixed_gop_video.path,
        scenes,
        tmp_path,
        settings=ClipSettings(min_duration_s=3.0),
        index=index,
    )
    kept = {c.scene_index for c in clips}
    assert kept == {s.index for s in scenes if s.duration_s >= 3.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c.clip_id}.mp4" for c in clips)


def test_video_without_audio(media, tmp_path):
    from video_assets.generate.synth import make_shots_video

    video = make_shots_video(
        media / "silent.mp4", [80, 90], audio="none", encoding="fixed_gop", gop=40
    )
    result = detect_scenes(str(video.path))
    clips = split_video(
        video.path, result.scenes, tmp_path, settings=ClipSettings(min_duration_s=1.0)
    )
    assert len(clips) == 2 and all(not probe(c.path).audio for c in clips)


def test_clip_settings_validated():
    with pytest.raises(ValueError, match="mode must be"):
        ClipSettings(mode="smart")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_duration_s"):
        ClipSettings(min_duration_s=-1)
    with pytest.raises(ValueError, match="audio_codec must be one of"):
        ClipSettings(audio_codec="mp3")  # type: ignore[arg-type]
