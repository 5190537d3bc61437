"""Checks on the audio stage: low-confidence words, likely hallucinations, doubtful languages and loops, unseparated stems, overlapping speakers."""

import dagster as dg

from dagster_project.defs.audio.assets import aligned_transcripts, vocal_stems
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import AudioStageConfig, StoreResource
from dagster_project.defs.sqlcheck import SQL_CHECKS, StageSettings
from video_assets.audio.quality import MIN_WORD_SCORE
from video_assets.catalog import connect, sql_text


def _totals(store: StoreResource, video_id: str, min_score: float) -> dict:
    with connect(store.root()) as con:
        df = con.execute(
            sql_text("reports/transcript_totals.sql"),
            {"video_id": video_id, "min_score": min_score},
        ).df()
    return {k: int(v) for k, v in df.iloc[0].items()}


@dg.asset_check(
    asset=aligned_transcripts,
    partitions_def=videos,
    description=f"Words scoring below the minimum ({MIN_WORD_SCORE}); segments holding a run of them are marked dropped. "
    "Each row says what timed the word (aligner; interpolated words, which no backend could time, "
    "are flagged and counted apart). Passes while the low share stays below audio_config.max_low_share.",
)
def low_confidence_words(
    context: dg.AssetCheckExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.AssetCheckResult:
    vid = context.partition_key
    totals = _totals(store, vid, audio_config.min_word_score)
    return SQL_CHECKS["low_confidence_words"].result(
        store.root(),
        vid,
        StageSettings(audio=audio_config),
        extra_metadata={
            **totals,
            "min_score": audio_config.min_word_score,
            "low_run": audio_config.low_word_run,
        },
    )


@dg.asset_check(
    asset=aligned_transcripts,
    partitions_def=videos,
    description="Segments flagged as likely hallucinations: an n-gram looping through the segment, "
    "or words placed where the VAD heard no speech. They are marked dropped, not deleted.",
)
def hallucinated_segments(
    context: dg.AssetCheckExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.AssetCheckResult:
    return SQL_CHECKS["hallucinated_segments"].result(
        store.root(), context.partition_key, StageSettings(audio=audio_config)
    )


@dg.asset_check(
    asset=vocal_stems,
    partitions_def=videos,
    description="The vocal stem is the unseparated mix (the passthrough was asked for, or no "
    "separation model loaded and it was allowed): transcripts may suffer from music under the voice.",
)
def separation_fallback(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    return SQL_CHECKS["separation_fallback"].result(store.root(), context.partition_key)


@dg.asset_check(
    asset=aligned_transcripts,
    partitions_def=videos,
    description="Words spoken while two speakers are active (two speakers' turns each cover half "
    "the word or more): their audio holds two voices. Passes while their share of words stays "
    "below audio_config.max_overlap_share.",
)
def speaker_overlap(
    context: dg.AssetCheckExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.AssetCheckResult:
    return SQL_CHECKS["speaker_overlap"].result(
        store.root(),
        context.partition_key,
        StageSettings(audio=audio_config),
        extra_metadata={"min_cover": audio_config.min_overlap_cover},
    )


@dg.asset_check(
    asset=aligned_transcripts,
    partitions_def=videos,
    description="The transcript is doubtful as a whole: Whisper gave its language a low probability "
    "(below audio_config.min_language_probability, averaged over the speech), or its words loop "
    "(more than audio_config.max_loop_share of word trigrams repeated), as when a model hears a "
    "language it does not know.",
)
def doubtful_transcripts(
    context: dg.AssetCheckExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.AssetCheckResult:
    check, settings = SQL_CHECKS["doubtful_transcripts"], StageSettings(audio=audio_config)
    return check.result(
        store.root(), context.partition_key, settings, extra_metadata=check.params(settings)
    )
