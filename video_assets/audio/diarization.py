"""Speaker diarization: who speaks when, and each word's speaker.

Two backends (``video_assets/audio/diarizers/``), chosen by
:func:`video_assets.audio.transcription.load_diarizer`:

- a pyannote.audio pipeline from a local folder (``VIDEO_ASSETS_DIARIZATION_DIR``), the
  production model, which takes precedence when configured;
- the offline default, :class:`ResemblyzerDiarizer`: the pyannote segmentation model inside
  the whisperx wheel for local speaker activity, Resemblyzer's speaker encoder for
  embeddings, clustered across windows; nothing to download.

A word gets the speaker whose turns overlap it longest (none when no turn overlaps it); a
segment gets the speaker holding most of its words' time. Words spoken while two speakers
are active keep one speaker here; the ``speaker_turns`` table keeps the overlap, and the
``speaker_overlap`` check counts those words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from video_assets.audio.aligners.base import AlignedSegment
from video_assets.audio.diarizers.base import Diarizer, SpeakerTurn
from video_assets.audio.diarizers.pyannote import SETTING, PyannoteDiarizer
from video_assets.audio.diarizers.resemblyzer import ResemblyzerDiarizer

__all__ = [
    "SETTING",
    "Diarizer",
    "PyannoteDiarizer",
    "ResemblyzerDiarizer",
    "SpeakerTurn",
    "assign_speakers",
]


OVERLAP_COVER = 0.5
"""A word is spoken over when two speakers' turns each cover at least this share of it."""


def assign_speakers(segments: Sequence[AlignedSegment], turns: Sequence[SpeakerTurn]) -> None:
    """Set ``speaker`` on every word and segment in place from the speaker turns.

    A word gets the speaker whose turns cover it longest when that is clear: one speaker's
    turns cover at least half of it and no other speaker's do. A segment (one sentence,
    normally of one speaker) gets the speaker holding most of its clear words' time (of all
    its words when none is clear). The other words take their segment's speaker: a word
    spoken over (two speakers' turns each cover half of it or more) when the segment's
    speaker is one of those heard, and a word in a pause between turns (or timed by
    interpolation where the aligner failed) always; failing that, the longest-covering one.
    """
    if not turns:
        return
    order = sorted(turns, key=lambda t: t.start)
    starts = np.array([t.start for t in order])
    ends = np.array([t.end for t in order])
    for seg in segments:
        covers: list[dict[str, float]] = []
        clear: list[bool] = []
        for w in seg.words:
            # turns starting before the word ends
            k = int(np.searchsorted(starts, w.end, side="left"))
            overlap = np.minimum(ends[:k], w.end) - np.maximum(starts[:k], w.start)
            by_speaker: dict[str, float] = defaultdict(float)
            for i in np.flatnonzero(overlap > 0):
                by_speaker[order[i].speaker] += float(overlap[i])
            covers.append(by_speaker)
            w.speaker = max(by_speaker.items(), key=lambda kv: kv[1])[0] if by_speaker else None
            half = OVERLAP_COVER * (w.end - w.start)
            clear.append(sum(t >= half for t in by_speaker.values()) == 1 and w.end > w.start)
        seg_time: dict[str, float] = defaultdict(float)
        for w, c, ok in zip(seg.words, covers, clear, strict=True):
            if w.speaker is not None and (ok or not any(clear)):
                seg_time[w.speaker] += c[w.speaker]
        seg.speaker = max(seg_time.items(), key=lambda kv: kv[1])[0] if seg_time else None
        if seg.speaker is None:
            continue
        for w, c, ok in zip(seg.words, covers, clear, strict=True):
            half = OVERLAP_COVER * (w.end - w.start)
            spoken_over = sum(t >= half for t in c.values()) >= 2 and w.end > w.start
            if not ok and (seg.speaker in c or not spoken_over):
                w.speaker = seg.speaker
