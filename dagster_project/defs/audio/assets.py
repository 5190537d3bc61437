"""vocal_stems and aligned_transcripts: the voice separated, then transcribed and aligned word by word."""

import dagster as dg

from dagster_project.defs.execution import MODEL_OP_TAGS
from dagster_project.defs.ingest.assets import source_video
from dagster_project.defs.metadata import md_table, stored_image
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import AudioStageConfig, StoreResource
from video_assets.audio.separation import separate_vocals
from video_assets.audio.stage import transcribe_video
from video_assets.audio.transcription import (
    SEGMENTS_SCHEMA,
    TRANSCRIPTS_SCHEMA,
    TURNS_SCHEMA,
    WORDS_SCHEMA,
)
from video_assets.layout import preview_rel, source_rel, stem_dir
from video_assets.progress import Progress
from video_assets.visuals import confidence_plot, transcript_markdown

# The video_id column lives in the hive path, not in the Parquet file.
WORDS_FILE_SCHEMA = WORDS_SCHEMA.remove(WORDS_SCHEMA.get_field_index("video_id"))
SEGMENTS_FILE_SCHEMA = SEGMENTS_SCHEMA.remove(SEGMENTS_SCHEMA.get_field_index("video_id"))
TURNS_FILE_SCHEMA = TURNS_SCHEMA.remove(TURNS_SCHEMA.get_field_index("video_id"))
TRANSCRIPTS_FILE_SCHEMA = TRANSCRIPTS_SCHEMA.remove(TRANSCRIPTS_SCHEMA.get_field_index("video_id"))


@dg.asset(
    partitions_def=videos,
    deps=[source_video],
    group_name="audio",
    kinds={"demucs", "spleeter", "wav", "parquet"},
    owners=["team:audio-data"],
    tags={"stage": "audio"},
    op_tags=MODEL_OP_TAGS,
    pool="models",
)
def vocal_stems(
    context: dg.AssetExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.MaterializeResult:
    """Vocal stem (Demucs, else Spleeter offline) of the video's audio: 16 kHz mono for ASR, full-rate vocals and accompaniment."""
    root = store.root()
    vid = context.partition_key
    settings = audio_config.separation_settings()
    stems_rel = stem_dir(vid)
    # The audio is decoded by ffmpeg straight from the store (a presigned URL on an object
    # store, no local copy of the video); the stems are written locally and uploaded whole.
    with (
        root.media_input(source_rel(root, vid)) as media,
        root.atomic_dir(stems_rel) as tmp,
        Progress(
            None, "s of audio", "separation", sink=context.log.info, min_interval_s=15.0
        ) as prog,
    ):
        result = separate_vocals(media, tmp, settings, progress=prog)
    root.write_table("stems", vid, result.table_frame(vid, stems_rel))
    if result.passed_through:
        context.log.warning(
            f"{vid}: the vocal stem is the unseparated mix ({result.fallback or 'asked for'})"
        )
    elif result.fallback:
        context.log.info(f"{vid}: {result.backend} separation: {result.fallback}")
    if not result.has_audio:
        context.log.info(f"{vid} has no audio stream: empty stems recorded")
    meta = {k: v for k, v in result.metadata().items() if v is not None}
    meta["folder"] = dg.MetadataValue.path(root.uri(stems_rel))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    partitions_def=videos,
    deps=[vocal_stems],
    group_name="audio",
    kinds={"whisperx", "pyannote", "parquet"},
    owners=["team:audio-data"],
    tags={"stage": "audio"},
    op_tags=MODEL_OP_TAGS,
    pool="models",
)
def aligned_transcripts(
    context: dg.AssetExecutionContext, store: StoreResource, audio_config: AudioStageConfig
) -> dg.MaterializeResult:
    """WhisperX transcript of the vocal stem with every word force-aligned, scored and attributed to a speaker (speaker_turns)."""
    root = store.root()
    vid = context.partition_key
    settings = audio_config.transcription_settings()
    result = transcribe_video(
        root, vid, settings, progress=lambda line: context.log.info(f"transcription: {line}")
    )
    words = result.words_frame(vid)
    segments = result.segments_frame(vid)
    root.write_table("words", vid, words, schema=WORDS_FILE_SCHEMA)
    root.write_table("segments", vid, segments, schema=SEGMENTS_FILE_SCHEMA)
    root.write_table("speaker_turns", vid, result.turns_frame(vid), schema=TURNS_FILE_SCHEMA)
    root.write_table(
        "transcripts", vid, result.transcript_frame(vid), schema=TRANSCRIPTS_FILE_SCHEMA
    )
    for note in result.notes:
        context.log.info(note)
    meta = {k: v for k, v in result.metadata().items() if v is not None and v != ""}
    meta["mean_score"] = round(float(words["score"].mean()), 4) if len(words) else 0.0
    meta["words_preview"] = md_table(words.drop(columns=["video_id"]), limit=15)
    meta["segments_preview"] = md_table(segments.drop(columns=["video_id"]), limit=10)
    min_score = audio_config.min_word_score
    meta["word_scores"] = stored_image(
        root,
        preview_rel(vid, "word_scores.png"),
        lambda out: confidence_plot(words, segments, out, min_score=min_score, title=vid),
        f"word alignment scores of {vid}",
    )
    meta["transcript"] = dg.MetadataValue.md(
        transcript_markdown(words, segments, min_score=min_score)
    )
    return dg.MaterializeResult(metadata=meta)
