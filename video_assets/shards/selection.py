"""Which candidate samples go into the shards: :func:`select_samples` applies :class:`ExclusionRules`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from video_assets.motion.result import static_reason
from video_assets.shards.sample import ShardSample, clean_word
from video_assets.shards.schema import WITHHELD_REASONS
from video_assets.shards.settings import ExclusionRules
from video_assets.tokens.files import TokensError, read_tokens

Reason = tuple[str, str]
"""A failed rule: its ``reason`` (one of :data:`REASONS`) and ``detail``."""
_ALWAYS_PASSED = ("clip_file", "leaked_frames", "min_duration")
_WORD_RULES = ("low_confidence_words", "dropped_segments")


@dataclass
class Selection:
    """Kept samples and the reasons the others were left out.

    Attributes:
        kept: Samples that passed every rule, with ``checks_passed``, ``token_shape`` and
            ``token_metadata`` filled in (and their words withheld where the transcript
            is doubtful).
        excluded: One row per (clip, reason): ``video_id``, ``clip_id``, ``reason`` (one
            of :data:`REASONS`, or of :data:`WITHHELD_REASONS` for a kept clip whose words
            were withheld), ``detail``.
        candidates: How many samples were judged.
    """

    kept: list[ShardSample]
    excluded: pd.DataFrame
    candidates: int

    @property
    def excluded_clips(self) -> int:
        """Clips left out of the shards (a clip kept without its words is not counted)."""
        left_out = self.excluded[~self.excluded["reason"].isin(WITHHELD_REASONS)]
        return int(left_out["clip_id"].nunique()) if len(left_out) else 0

    def reason_counts(self) -> dict[str, int]:
        """Clips per reason (a clip with two reasons counts under both)."""
        pairs = self.excluded.drop_duplicates(["clip_id", "reason"])
        return dict(sorted(Counter(str(r) for r in pairs["reason"]).items()))


def _clip_reasons(s: ShardSample, rules: ExclusionRules) -> list[Reason]:
    reasons: list[Reason] = []
    if not Path(s.clip_path).is_file():
        reasons.append(("clip_missing", f"{s.clip_path} does not exist"))
    if s.leaked_frames > rules.max_leaked_frames:
        reasons.append(
            ("leaked_frames",
             f"{s.leaked_frames} frames of a neighbouring shot (max {rules.max_leaked_frames})")
        )  # fmt: skip
    if s.duration_s < rules.min_duration_s:
        reasons.append(("too_short", f"{s.duration_s:.3f} s < {rules.min_duration_s} s"))
    return reasons


def _token_reasons(
    s: ShardSample, rules: ExclusionRules
) -> tuple[list[Reason], tuple[int, int, int] | None, dict[str, str]]:
    """Reasons about the clip's token file, and its shape and metadata when readable."""
    if s.token_path is None or not Path(s.token_path).is_file():
        where = f" at {s.token_path}" if s.token_path else ""
        return (
            ([("missing_tokens", f"no token file{where}")] if rules.require_tokens else []),
            None,
            {},
        )
    try:
        tokens = read_tokens(s.token_path)
    except TokensError as exc:
        return ([("unreadable_tokens", str(exc))] if rules.require_tokens else []), None, {}
    ids, meta = tokens.ids, tokens.metadata
    shape = (int(ids.shape[0]), int(ids.shape[1]), int(ids.shape[2]))
    if rules.checkpoint_hash and meta.get("checkpoint_hash") != rules.checkpoint_hash:
        made_by = meta.get("checkpoint_hash", "?")[:12]
        return (
            [("stale_tokens",
              f"tokens made by checkpoint {made_by}, current is {rules.checkpoint_hash[:12]}")],
            shape,
            meta,
        )  # fmt: skip
    return [], shape, meta


def _word_reasons(s: ShardSample, rules: ExclusionRules) -> list[Reason]:
    reasons: list[Reason] = []
    if s.words:
        low = sum(
            1 for w in s.words if w.get("score") is None or float(w["score"]) < rules.min_word_score
        )
        share = low / len(s.words)
        if share > rules.max_low_word_share:
            reasons.append(
                ("low_confidence_words",
                 f"{low} of {len(s.words)} words scored below {rules.min_word_score} "
                 f"({share:.0%} > {rules.max_low_word_share:.0%})")
            )  # fmt: skip
    if s.dropped_segments > rules.max_dropped_segments:
        reasons.append(
            ("dropped_segments",
             f"{s.dropped_segments} dropped transcript segments overlap the clip (max {rules.max_dropped_segments})")
        )  # fmt: skip
    return reasons


def _judge(s: ShardSample, rules: ExclusionRules) -> tuple[list[Reason], list[Reason], ShardSample]:
    """A candidate's reasons to be left out, its withheld parts, and the sample if kept."""
    withhold = rules.doubtful_transcripts is not None and s.doubtful_transcript is not None
    passed = list(_ALWAYS_PASSED)
    reasons = _clip_reasons(s, rules)
    token_reasons, shape, meta = _token_reasons(s, rules)
    reasons += token_reasons
    if rules.require_tokens:
        passed.append("tokens")
    if rules.checkpoint_hash:
        passed.append("current_tokenizer")
    if not withhold:  # withheld words are not judged: they do not go into the sample
        reasons += _word_reasons(s, rules)
        passed += _WORD_RULES
    if rules.exclude_failed_checks:
        reasons += [("failed_check", name) for name in sorted(set(s.failed_checks))]
    if rules.motion is not None and s.motion is not None:
        passed.append("motion")
        still = static_reason(s.motion, rules.motion)
        if still is not None:
            reasons.append((still.reason, still.detail))
    withheld: list[Reason] = []
    words = [clean_word(w) for w in s.words]
    extra = s.extra
    if withhold:
        withheld.append(("doubtful_transcript", str(s.doubtful_transcript)))
        words, extra = [], {**s.extra, "words_withheld": "doubtful_transcript"}
    kept = replace(
        s,
        words=words,
        extra=extra,
        checks_passed=tuple(sorted(set(s.checks_passed) | set(passed))),
        token_shape=shape,
        token_metadata=meta,
    )
    return reasons, withheld, kept


def select_samples(
    candidates: Iterable[ShardSample], rules: ExclusionRules | None = None
) -> Selection:
    """Apply the exclusion rules; see :class:`ExclusionRules` and :data:`REASONS`.

    A clip whose video's transcript is doubtful (``doubtful_transcript``, with
    ``rules.doubtful_transcripts`` set) is kept without its words, and one
    ``doubtful_transcript`` row says so; its words are then not judged by the word rules.

    Raises:
        ValueError: two candidates share a key.
    """
    rules = rules or ExclusionRules()
    kept: list[ShardSample] = []
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    n = 0
    for s in candidates:
        n += 1
        if s.key in seen:
            raise ValueError(f"two candidate samples have the key {s.key!r}")
        seen.add(s.key)
        reasons, withheld, sample = _judge(s, rules)
        if not reasons:
            kept.append(sample)
        rows += [
            {"video_id": s.video_id, "clip_id": s.key, "reason": r, "detail": d}
            for r, d in (reasons or withheld)
        ]
    excluded = pd.DataFrame(rows, columns=["video_id", "clip_id", "reason", "detail"])
    return Selection(kept=sorted(kept, key=lambda s: s.key), excluded=excluded, candidates=n)
