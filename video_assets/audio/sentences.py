"""Cutting aligned segments into sentences, as WhisperX's ``align`` does for wav2vec2.

A VAD chunk can hold 30 s of speech; the drop logic works per segment, so a segment should
be a sentence, whichever aligner placed the words. The splitter is NLTK Punkt with the
``punkt_tab`` parameters described in :mod:`video_assets.audio.punkt`.
"""

from __future__ import annotations

from collections.abc import Sequence

from video_assets.audio.aligners.base import AlignedSegment, split_words
from video_assets.audio.punkt import ensure_punkt_tab, punkt_language


def split_sentences(
    segments: Sequence[AlignedSegment], language: str
) -> tuple[list[AlignedSegment], str]:
    """Split every segment at sentence boundaries, keeping each word with its sentence.

    Args:
        segments: Aligned segments whose ``words`` are ``split_words(text)`` in order.
        language: ISO code (selects the Punkt parameters).

    Returns:
        The sentence segments, and which punkt_tab was used (``installed`` or ``bundled``).
    """
    from nltk.data import load

    source = ensure_punkt_tab(language)
    splitter = load(f"tokenizers/punkt_tab/{punkt_language(language)}.pickle")
    out: list[AlignedSegment] = []
    for seg in segments:
        tokens = split_words(seg.text)
        if len(tokens) != len(seg.words) or not tokens:
            out.append(seg)
            continue
        offsets, pos = [], 0
        for tok in tokens:
            pos = seg.text.index(tok, pos)
            offsets.append(pos)
            pos += len(tok)
        spans = list(splitter.span_tokenize(seg.text))
        groups: list[list[int]] = [[] for _ in spans]
        for i, off in enumerate(offsets):
            k = next((j for j, (a, b) in enumerate(spans) if a <= off < b), len(spans) - 1)
            groups[k].append(i)
        for (a, b), idx in zip(spans, groups, strict=True):
            if not idx:
                continue
            words = [seg.words[i] for i in idx]
            out.append(
                AlignedSegment(
                    start=min(w.start for w in words),
                    end=max(w.end for w in words),
                    text=seg.text[a:b].strip(),
                    words=words,
                    speaker=seg.speaker,
                    avg_logprob=seg.avg_logprob,
                )
            )
    return out, source
