"""How kept samples are packed (:class:`ShardSettings`) and which clips are kept (:class:`ExclusionRules`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from video_assets.audio.asr import MAX_LOOP_SHARE, MIN_LANGUAGE_PROBABILITY, MIN_LOOP_WORDS
from video_assets.audio.quality import MIN_WORD_SCORE
from video_assets.clips import MIN_CLIP_S
from video_assets.motion.settings import MotionSettings


@dataclass(frozen=True)
class ShardSettings:
    """How kept samples are bucketed and packed.

    Args:
        target_bytes: Largest shard, in bytes (default 1 GiB); a shard closes before the
            sample that would take it past this. A sample larger than this gets a shard of
            its own. 1 KiB to 1 TiB.
        frame_window: Frame-count window of a bucket: 0 for powers of two
            (``[64, 128)``, ``[128, 256)``, ...), else fixed windows of this many frames
            (``[0, N)``, ``[N, 2N)``, ...). 0 to 1,000,000.
        aspect_denominator: Aspect ratios are rounded to the nearest fraction with a
            denominator up to this (16: 854x480 is 16:9). 1 to 1000.
    """

    target_bytes: int = 1 << 30
    frame_window: int = 0
    aspect_denominator: int = 16

    def __post_init__(self) -> None:
        if not 1 << 10 <= self.target_bytes <= 1 << 40:
            raise ValueError(f"target_bytes must be in [1024, 2**40], got {self.target_bytes}")
        if not 0 <= self.frame_window <= 1_000_000:
            raise ValueError(f"frame_window must be in [0, 1000000], got {self.frame_window}")
        if not 1 <= self.aspect_denominator <= 1000:
            raise ValueError(
                f"aspect_denominator must be in [1, 1000], got {self.aspect_denominator}"
            )


@dataclass(frozen=True)
class DoubtfulTranscripts:
    """When a video's transcript is doubtful as a whole: the ``doubtful_transcripts`` check's rule.

    The same SQL (``sql/checks/doubtful_transcripts.sql``) judges it with these thresholds,
    whose defaults are the check's (:mod:`video_assets.audio.asr`).

    Args:
        min_language_probability: Doubtful below this language probability (0 to 1).
        max_loop_share: Doubtful when more than this share of word trigrams repeat (0 to 1) ...
        min_loop_words: ... over at least this many words (1 to 100,000).
    """

    min_language_probability: float = MIN_LANGUAGE_PROBABILITY
    max_loop_share: float = MAX_LOOP_SHARE
    min_loop_words: int = MIN_LOOP_WORDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_language_probability <= 1.0:
            raise ValueError(
                f"min_language_probability must be in [0, 1], got {self.min_language_probability}"
            )
        if not 0.0 <= self.max_loop_share <= 1.0:
            raise ValueError(f"max_loop_share must be in [0, 1], got {self.max_loop_share}")
        if not 1 <= self.min_loop_words <= 100_000:
            raise ValueError(f"min_loop_words must be in [1, 100000], got {self.min_loop_words}")

    def params(self) -> dict[str, Any]:
        """The check's SQL parameters, less ``video_id``."""
        return {
            "min_language_probability": self.min_language_probability,
            "max_loop_share": self.max_loop_share,
            "min_loop_words": self.min_loop_words,
        }


@dataclass(frozen=True)
class ExclusionRules:
    """Which clips are left out of the shards; every rule that fails adds one reason.

    Args:
        max_leaked_frames: Most frames of a neighbouring shot a clip may hold (0 to 1000).
        min_duration_s: Shortest clip, in seconds (0 to 3600).
        require_tokens: Leave out clips without a readable token file.
        min_word_score: Words scored below this (or unscored) are low-confidence (0 to 1).
        max_low_word_share: Largest share of low-confidence words in a clip (0 to 1); a
            clip without words passes (silent clips are still video training data).
        max_dropped_segments: Most transcript segments dropped by the quality marks that
            may overlap the clip (0 to 1000): a dropped segment means its words are
            missing from the clip's transcript.
        exclude_failed_checks: Leave out clips whose sample lists failed checks.
        checkpoint_hash: When set, leave out clips whose tokens were made by another
            tokenizer checkpoint (``checkpoint_hash`` in the token file's metadata).
        motion: Leave out static clips and slideshows by these thresholds
            (:func:`video_assets.motion.static_reason` on the clip's ``clip_motion`` row:
            ``min_motion_px``, ``min_patch_motion_px``, ``max_static_share``); None keeps
            them. A clip without a ``clip_motion`` row is not judged by motion.
        doubtful_transcripts: Withhold the words of every clip of a video whose transcript
            is doubtful by this rule (the clip and its tokens stay; one
            ``doubtful_transcript`` row in ``shard_exclusions`` says why); None passes
            every transcript on.
    """

    max_leaked_frames: int = 0
    min_duration_s: float = MIN_CLIP_S
    require_tokens: bool = True
    min_word_score: float = MIN_WORD_SCORE
    max_low_word_share: float = 0.25
    max_dropped_segments: int = 0
    exclude_failed_checks: bool = True
    checkpoint_hash: str | None = None
    motion: MotionSettings | None = MotionSettings()
    doubtful_transcripts: DoubtfulTranscripts | None = DoubtfulTranscripts()

    def __post_init__(self) -> None:
        if not 0 <= self.max_leaked_frames <= 1000:
            raise ValueError(
                f"max_leaked_frames must be in [0, 1000], got {self.max_leaked_frames}"
            )
        if not 0.0 <= self.min_duration_s <= 3600.0:
            raise ValueError(f"min_duration_s must be in [0, 3600], got {self.min_duration_s}")
        if not 0.0 <= self.min_word_score <= 1.0:
            raise ValueError(f"min_word_score must be in [0, 1], got {self.min_word_score}")
        if not 0.0 <= self.max_low_word_share <= 1.0:
            raise ValueError(f"max_low_word_share must be in [0, 1], got {self.max_low_word_share}")
        if not 0 <= self.max_dropped_segments <= 1000:
            raise ValueError(
                f"max_dropped_segments must be in [0, 1000], got {self.max_dropped_segments}"
            )
