"""Benchmark: language detection and WER per language, the multilingual default beside tiny.en.

Side by side in one run, on espeak-ng speech made here in several languages (three
sentences each, one file per language):

- ``base`` (the packaged multilingual default, language detected per VAD chunk): the
  language it detects and that language's probability, whether it is right, the word error
  rate of its transcript (character error rate for Chinese and Japanese, written without
  spaces), and which aligner the language gets;
- ``tiny.en`` (the previous default, English only): the same transcript figures, to show
  what an English-only model makes of other languages.

espeak's voices are synthetic and regular, unlike people: small Whisper models find some
of them hard (base has taken French espeak for Thai). Figures here say whether the
language path works end to end (detected language recorded, the right aligner, no English
text for German); they do not measure accuracy on real speech.

    uv run python bench/languages.py            # about 5 minutes on 2 busy cores
    uv run python bench/languages.py --only de fr
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VIDEO_ASSETS_OFFLINE", "1")  # the packaged models, never a download

import duckdb

from video_assets.audio.asr import MAX_LOOP_SHARE, MIN_LANGUAGE_PROBABILITY, MIN_LOOP_WORDS
from video_assets.audio.metrics import word_error_rate
from video_assets.audio.transcription import TranscriptionSettings, transcribe
from video_assets.catalog import sql_text
from video_assets.generate.speech import synthesize

TEXTS = {
    "en": ("en-us", "The train leaves the station at nine. We carry two bags and a map. "
           "Nobody knows where the road ends."),
    "de": ("de", "Der Zug fährt um neun Uhr ab. Wir tragen zwei Taschen und eine Karte. "
           "Niemand weiß, wo die Straße endet."),
    "fr": ("fr", "Le train quitte la gare à neuf heures. Nous portons deux sacs et une carte. "
           "Personne ne sait où la route se termine."),
    "es": ("es", "El tren sale de la estación a las nueve. Llevamos dos bolsas y un mapa. "
           "Nadie sabe dónde termina el camino."),
    "it": ("it", "Il treno lascia la stazione alle nove. Portiamo due borse e una mappa. "
           "Nessuno sa dove finisce la strada."),
    "pt": ("pt", "O comboio sai da estação às nove. Levamos duas malas e um mapa. "
           "Ninguém sabe onde a estrada termina."),
    "nl": ("nl", "De trein vertrekt om negen uur. We dragen twee tassen en een kaart. "
           "Niemand weet waar de weg eindigt."),
    "ru": ("ru", "Поезд уходит со станции в девять. Мы несём две сумки и карту. "
           "Никто не знает, где кончается дорога."),
    "ja": ("ja", "電車は九時に駅を出ます。私たちは鞄を二つと地図を持っています。"),
    "zh": ("cmn", "火车九点离开车站。我们带着两个包和一张地图。没有人知道路在哪里结束。"),
}  # fmt: skip
CHARACTER_LANGUAGES = ("ja", "zh")


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation, in any script (metrics.norm_words keeps ASCII)."""
    return [w for w in (re.sub(r"[^\w']", "", t.lower()) for t in text.split()) if w]


def error_rate(language: str, reference: str, hypothesis: str) -> float:
    """WER, or CER for languages written without spaces."""
    if language in CHARACTER_LANGUAGES:
        keep = lambda t: [c for c in t if c.isalnum()]  # noqa: E731
        return word_error_rate(keep(reference), keep(hypothesis))
    return word_error_rate(words_of(reference), words_of(hypothesis))


def doubtful(result) -> str | None:
    """What the doubtful_transcripts check says of this transcript (its SQL, default limits)."""
    con = duckdb.connect()
    for name, frame in (
        ("words", result.words_frame("v")),
        ("segments", result.segments_frame("v")),
        ("transcripts", result.transcript_frame("v")),
    ):
        con.register(f"{name}_df", frame)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_df")  # noqa: S608
    rows = con.execute(
        sql_text("checks/doubtful_transcripts.sql"),
        {
            "video_id": "v",
            "min_language_probability": MIN_LANGUAGE_PROBABILITY,
            "max_loop_share": MAX_LOOP_SHARE,
            "min_loop_words": MIN_LOOP_WORDS,
        },
    ).fetchall()
    return None if not rows else str(rows[0][-1])


def run(language: str, wav: Path, text: str, settings: TranscriptionSettings) -> dict:
    t0 = time.perf_counter()
    try:
        result = transcribe(wav, settings)
    except Exception as exc:  # an English-only model refuses a configured language
        return {"error": f"{type(exc).__name__}: {exc}"}
    hyp = " ".join(s.text for s in result.segments)
    return {
        "detected": result.language,
        "probability": result.language_probability,
        "right": result.language == language,
        "error_rate": round(error_rate(language, text, hyp), 3),
        "aligner": result.aligner,
        "segments_low_probability": sum(
            1 for s in result.segments if (s.language_probability or 1.0) < 0.5
        ),
        "flagged": doubtful(result),
        "hypothesis": hyp,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(TEXTS))
    parser.add_argument("--out", default="bench/out/languages.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.only:
            voice, text = TEXTS[lang]
            wav = synthesize(text, voice=voice).save_wav(Path(tmp) / f"{lang}.wav", rate=16000)
            base = run(lang, wav, text, TranscriptionSettings(threads=args.threads, diarize=False))
            tiny = run(
                lang,
                wav,
                text,
                TranscriptionSettings(threads=args.threads, diarize=False, language="en"),
            )
            rows[lang] = {"voice": voice, "base": base, "tiny.en": tiny}
            print(
                f"{lang}: base -> {base.get('detected')} p={base.get('probability')} "
                f"err={base.get('error_rate')} aligner={base.get('aligner')} | "
                f"tiny.en err={tiny.get('error_rate')}",
                file=sys.stderr,
            )
    right = [r["base"].get("right", False) for r in rows.values()]
    summary = {
        "languages": len(rows),
        "detected_right": sum(right),
        "accuracy": round(sum(right) / len(right), 3) if right else None,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"summary": summary, "languages": rows}, indent=2, ensure_ascii=False)
    )
    print(
        "| language | detected (base) | probability | error rate base | error rate tiny.en "
        "| aligner | doubtful_transcripts (base) | doubtful_transcripts (tiny.en) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for lang, r in rows.items():
        b, t = r["base"], r["tiny.en"]
        metric = "CER" if lang in CHARACTER_LANGUAGES else "WER"
        print(
            f"| {lang} | {b.get('detected')} | {b.get('probability')} | "
            f"{b.get('error_rate')} ({metric}) | {t.get('error_rate')} | {b.get('aligner')} "
            f"| {b.get('flagged') or '-'} | {t.get('flagged') or '-'} |"
        )
    print(f"language accuracy: {summary['detected_right']}/{summary['languages']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
