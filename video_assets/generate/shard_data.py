"""Small data roots for the shard and loader tests and benches: lavfi clips, token files, tables."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from safetensors.numpy import save_file

from video_assets.audio.quality import MIN_WORD_SCORE
from video_assets.audio.transcription import SEGMENTS_SCHEMA, WORDS_SCHEMA
from video_assets.clips import MIN_CLIP_S, ClipSettings, split_video
from video_assets.generate.synth import make_shots_video
from video_assets.keyframes import build_index
from video_assets.scenes import scenes_from_cuts
from video_assets.shards.sample import ShardSample
from video_assets.store import DataRoot

CHECKPOINT = "c0ffee" * 10
TEMPORAL_STRIDE = 4
SPATIAL_STRIDE = 8


def lavfi_clip(
    path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 20, hue: int = 0
) -> Path:
    """``frames`` frames of testsrc2 (hue-shifted) as a small H.264 mp4."""
    w, h = size
    subprocess.run(  # noqa: S603 - argument list, no shell
        [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=25,hue=h={hue}",
            "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def token_grid(frames: int, width: int, height: int) -> tuple[int, int, int]:
    """The (T', H', W') a stride-4/8 tokenizer gives for a clip."""
    return (
        1 + math.ceil((frames - 1) / TEMPORAL_STRIDE),
        max(1, height // SPATIAL_STRIDE),
        max(1, width // SPATIAL_STRIDE),
    )


def write_random_tokens(path: Path, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """A token file of random ids in the token stage's layout (``tokens``, int32, 3-D).

    Written with safetensors directly: importing the tokenizer package takes seconds.
    """
    ids = (
        np.random.default_rng(seed)
        .integers(0, 1 << 18, size=shape, dtype=np.int64)
        .astype(np.int32)
    )
    meta = {
        "format": "video-assets-tokens", "format_version": "1", "temporal_stride": str(TEMPORAL_STRIDE),
        "spatial_stride": str(SPATIAL_STRIDE), "bits": "18", "shape": str(list(shape)), "checkpoint_hash": CHECKPOINT,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"tokens": ids}, str(path), metadata=meta)
    return ids


def words_for(n: int, duration_s: float, *, score: float = 0.9, seed: int = 0) -> list[dict]:
    """``n`` clip-relative words spread over the clip."""
    rng = np.random.default_rng(seed)
    step = duration_s / (n + 1)
    return [
        {"word": f"w{seed}_{i}", "start": round(step * (i + 0.2), 3), "end": round(step * (i + 0.9), 3),
         "score": float(round(score - 0.05 * rng.random(), 3)), "speaker": "SPEAKER_00" if i % 2 else None,
         "segment": 0}
        for i in range(n)
    ]  # fmt: skip


def make_samples(folder: Path, specs: list[tuple[str, tuple[int, int], int]]) -> list[ShardSample]:
    """One sample per ``(key, (width, height), frames)``: a lavfi clip, random tokens, words."""
    out = []
    for i, (key, (w, h), frames) in enumerate(specs):
        clip = lavfi_clip(folder / f"{key}.mp4", size=(w, h), frames=frames, hue=(i * 47) % 360)
        tok = folder / f"{key}.safetensors"
        write_random_tokens(tok, token_grid(frames, w, h), seed=i)
        out.append(
            ShardSample(
                key=key, video_id=f"v{i % 3:016x}", clip_path=str(clip), scene_index=i, start_s=10.0 * i,
                end_s=10.0 * i + frames / 25, fps=25.0, width=w, height=h, frame_count=frames,
                words=words_for(3, frames / 25, seed=i), token_path=str(tok),
            )
        )  # fmt: skip
    return out


@dataclass
class RootFixture:
    """A data root with two videos' clips, words, segments and tokens, and what is expected."""

    root: DataRoot
    clips: pd.DataFrame
    videos: pd.DataFrame
    words: pd.DataFrame
    segments: pd.DataFrame
    tokens: pd.DataFrame
    expected_reasons: dict[str, set[str]]
    """Clip id -> reasons it must be excluded for (absent: kept)."""


# Shot lengths at 25 fps; video a's shots 1..5 each break one rule, shots 0 and 6 pass.
SHOTS_A = [90, 40, 110, 95, 100, 105, 85]
SHOTS_B = [85, 140, 90, 95]


def _file_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of a table's partition file: ``video_id`` is the hive partition."""
    return schema.remove(schema.get_field_index("video_id"))


def _in_schema(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """``df`` with the schema's columns, those it does not set left empty (None)."""
    out = df.reindex(columns=schema.names)
    for name in set(schema.names) - set(df.columns):
        out[name] = pd.Series([None] * len(out), index=out.index, dtype=object)
    return out


def build_root(base: Path) -> RootFixture:
    """Render two videos, cut clips by stream copy, and write the tables the shard step reads."""
    root = DataRoot(base / "data")
    clip_rows, video_rows, word_rows, seg_rows, token_rows = [], [], [], [], []
    expected: dict[str, set[str]] = {}
    for vid, shots, size, seed in (
        ("v" + "a" * 16, SHOTS_A, (160, 90), 1),
        ("v" + "b" * 16, SHOTS_B, (128, 96), 2),
    ):
        video = make_shots_video(base / f"{vid}.mp4", shots, size=size, seed=seed, audio="none")
        index = build_index(video.path)
        scenes = scenes_from_cuts(video.cuts, index)
        clip_dir = root.local_path(root.rel("clips", vid))
        clips = split_video(video.path, scenes, clip_dir, settings=ClipSettings(min_duration_s=1.0),
                            index=index, clip_prefix=f"{vid}_", has_audio=False)  # fmt: skip
        video_rows.append({"video_id": vid, "width": size[0], "height": size[1], "fps": 25.0})
        segment = 0
        for c in clips:
            row: dict[str, Any] = {
                "video_id": vid, "clip_id": c.clip_id, "scene_index": c.scene_index,
                "path": f"clips/{vid}/{c.clip_id}.mp4", "scene_start_frame": c.scene_start_frame,
                "scene_end_frame": c.scene_end_frame, "start_frame": c.start_frame, "end_frame": c.end_frame,
                "start_s": round(c.start_s, 6), "end_s": round(c.end_s, 6), "duration_s": round(c.duration_s, 6),
                "method": c.method, "leaked_frames": c.leaked_frames, "lost_frames": c.lost_frames,
                "bytes": c.bytes,
            }  # fmt: skip
            reasons: set[str] = set()
            if row["duration_s"] < MIN_CLIP_S:
                reasons.add("too_short")
            k = c.scene_index
            score = 0.2 if (vid.startswith("va") and k == 2) else 0.9
            kept_segment = not (vid.startswith("va") and k == 3)
            if score < MIN_WORD_SCORE:
                reasons.add("low_confidence_words")
            if not kept_segment:
                reasons.add("dropped_segments")
            if vid.startswith("va") and k == 4:
                row["leaked_frames"] = 2  # as if the cut had been missed by a frame or two
                reasons.add("leaked_frames")
            # Four words inside the clip (one segment per clip), one straddling its end.
            words = words_for(
                4, row["duration_s"], score=score, seed=k + (100 if vid.startswith("vb") else 0)
            )
            for w in words:
                word_rows.append({"video_id": vid, "segment": segment, "word": w["word"],
                                  "start": row["start_s"] + w["start"], "end": row["start_s"] + w["end"],
                                  "score": w["score"], "speaker": w["speaker"]})  # fmt: skip
            word_rows.append({"video_id": vid, "segment": segment, "word": "straddle",
                              "start": row["end_s"] - 0.1, "end": row["end_s"] + 0.2, "score": 0.9,
                              "speaker": None})  # fmt: skip
            seg_rows.append({"video_id": vid, "segment": segment, "start": row["start_s"],
                             "end": row["end_s"], "text": "", "speaker": None, "language": "en",
                             "kept": kept_segment,
                             "drop_reason": None if kept_segment else "low_confidence_run"})  # fmt: skip
            segment += 1
            if not (vid.startswith("va") and k == 5):
                frames = c.end_frame - c.start_frame
                trel = f"tokens/{vid}/{c.clip_id}.safetensors"
                write_random_tokens(root.local_path(trel), token_grid(frames, *size), seed=k)
                token_rows.append({"video_id": vid, "clip_id": c.clip_id, "path": trel})
            else:
                reasons.add("missing_tokens")
            if reasons:
                expected[c.clip_id] = reasons
            clip_rows.append(row)
    clips_df = pd.DataFrame(clip_rows)
    videos_df = pd.DataFrame(video_rows)
    words_df = pd.DataFrame(word_rows)
    segs_df = pd.DataFrame(seg_rows)
    for vid, part in clips_df.groupby("video_id"):
        root.write_table("clips", str(vid), part)
        root.write_table(
            "words",
            str(vid),
            _in_schema(words_df[words_df.video_id == vid], WORDS_SCHEMA),
            schema=_file_schema(WORDS_SCHEMA),
        )
        root.write_table(
            "segments",
            str(vid),
            _in_schema(segs_df[segs_df.video_id == vid], SEGMENTS_SCHEMA),
            schema=_file_schema(SEGMENTS_SCHEMA),
        )
    tokens_df = pd.DataFrame(token_rows)
    return RootFixture(root, clips_df, videos_df, words_df, segs_df, tokens_df, expected)


def add_video(
    root: DataRoot,
    work: Path,
    vid: str,
    shots: list[int],
    *,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
    min_clip_s: float = 1.0,
    checkpoint: str = CHECKPOINT,
) -> pd.DataFrame:
    """Ingest one generated video as the pipeline would, without the models.

    Renders shots of these frame counts (no audio), cuts one clip per shot of at least
    ``min_clip_s`` into ``clips/<vid>/`` by stream copy, writes random token files made by
    ``checkpoint``, and writes the video's ``videos``, ``clips``, ``words``, ``segments`` and
    ``tokens`` partitions (three words and one kept segment per clip). Returns its clips rows.
    """
    video = make_shots_video(
        work / f"{vid}.mp4", shots, size=size, seed=seed, audio="none", preset="ultrafast"
    )
    index = build_index(video.path)
    scenes = scenes_from_cuts(video.cuts, index)
    clip_dir = root.local_path(root.rel("clips", vid))
    clips = split_video(video.path, scenes, clip_dir, settings=ClipSettings(min_duration_s=min_clip_s),
                        index=index, clip_prefix=f"{vid}_", has_audio=False)  # fmt: skip
    clip_rows, word_rows, seg_rows, token_rows = [], [], [], []
    for segment, c in enumerate(clips):
        start_s, end_s = round(c.start_s, 6), round(c.end_s, 6)
        clip_rows.append({
            "video_id": vid, "clip_id": c.clip_id, "scene_index": c.scene_index,
            "path": f"clips/{vid}/{c.clip_id}.mp4", "scene_start_frame": c.scene_start_frame,
            "scene_end_frame": c.scene_end_frame, "start_frame": c.start_frame, "end_frame": c.end_frame,
            "start_s": start_s, "end_s": end_s, "duration_s": round(c.duration_s, 6), "method": c.method,
            "leaked_frames": c.leaked_frames, "lost_frames": c.lost_frames, "bytes": c.bytes,
        })  # fmt: skip
        for w in words_for(3, end_s - start_s, seed=seed * 1000 + segment):
            word_rows.append({"video_id": vid, "segment": segment, "word": w["word"], "start": start_s + w["start"],
                              "end": start_s + w["end"], "score": w["score"], "speaker": w["speaker"]})  # fmt: skip
        seg_rows.append({"video_id": vid, "segment": segment, "start": start_s, "end": end_s, "text": "",
                         "speaker": None, "language": "en", "kept": True, "drop_reason": None})  # fmt: skip
        trel = f"tokens/{vid}/{c.clip_id}.safetensors"
        shape = token_grid(c.end_frame - c.start_frame, *size)
        write_random_tokens(root.local_path(trel), shape, seed=seed * 1000 + segment)
        token_rows.append({"video_id": vid, "clip_id": c.clip_id, "path": trel, "t": shape[0],
                           "h": shape[1], "w": shape[2], "checkpoint_hash": checkpoint})  # fmt: skip
    width, height = size
    root.write_table(
        "videos",
        vid,
        pd.DataFrame([{"video_id": vid, "width": width, "height": height, "fps": 25.0}]),
    )
    clips_df = pd.DataFrame(clip_rows)
    root.write_table("clips", vid, clips_df)
    root.write_table("words", vid, _in_schema(pd.DataFrame(word_rows), WORDS_SCHEMA),
                     schema=_file_schema(WORDS_SCHEMA))  # fmt: skip
    root.write_table("segments", vid, _in_schema(pd.DataFrame(seg_rows), SEGMENTS_SCHEMA),
                     schema=_file_schema(SEGMENTS_SCHEMA))  # fmt: skip
    root.write_table("tokens", vid, pd.DataFrame(token_rows))
    return clips_df
