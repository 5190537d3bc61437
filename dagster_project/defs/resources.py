"""Resources: where data lives and the settings of each stage, configured through EnvVar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from fsspec.core import split_protocol

from video_assets.audio.asr import MAX_LOOP_SHARE, MIN_LANGUAGE_PROBABILITY
from video_assets.audio.diarization import OVERLAP_COVER
from video_assets.audio.quality import QualitySettings
from video_assets.audio.separation import SeparationSettings
from video_assets.audio.transcription import TranscriptionSettings
from video_assets.clips import ClipSettings
from video_assets.errors import ConfigError
from video_assets.motion.settings import MotionSettings
from video_assets.scenes import DetectorSettings
from video_assets.store import S3_ENV, DataRoot, s3_storage_options


class StoreResource(dg.ConfigurableResource):
    """The data root (local folder or fsspec URL) and the landing folder the sensor watches.

    An ``s3://bucket/prefix`` root takes its endpoint, credentials and region from the fields
    below (set from ``VIDEO_ASSETS_S3_*`` as ``dg.EnvVar``, so no secret is stored in the run
    config); left empty, botocore's own chain applies (``AWS_*`` variables, a profile, an
    instance role). They are ignored for other roots.
    """

    data_root: str
    landing_dir: str
    settle_s: float = 10.0
    """A landing file is ingested only once its size and mtime have not changed for this long."""
    endpoint_url: str = ""
    """S3-compatible endpoint (MinIO, Ceph, moto, ...); empty: AWS."""
    key: str = ""
    """Access key id; set it with VIDEO_ASSETS_S3_KEY."""
    secret: str = ""
    """Secret access key; set it with VIDEO_ASSETS_S3_SECRET."""
    region: str = ""

    def storage_options(self) -> dict:
        if split_protocol(self.data_root)[0] not in ("s3", "s3a"):
            return {}
        return s3_storage_options(self.endpoint_url, self.key, self.secret, self.region)

    def root(self) -> DataRoot:
        """The data root; a remote one is checked once per process (bucket, endpoint,
        credentials) so a wrong setting fails the first step, naming the setting."""
        root = DataRoot(self.data_root, storage_options=self.storage_options())
        marker = (root.url, self.endpoint_url, self.key, self.region)
        if not root.is_local and marker not in _CHECKED_ROOTS:
            root.check()
            _CHECKED_ROOTS.add(marker)
        return root


_CHECKED_ROOTS: set[tuple[str, ...]] = set()


_MOTION = MotionSettings()
"""The motion stage's defaults, declared once in the library."""
_CLIPS = ClipSettings()
"""The clip stage's defaults, declared once in the library."""
_SEPARATION = SeparationSettings()
_TRANSCRIPTION = TranscriptionSettings()
_QUALITY = QualitySettings()
"""The audio stages' defaults, declared once in the library."""


class VideoStageConfig(dg.ConfigurableResource):
    """Settings of the scene and clip stages (see README, Configuration)."""

    scene_mode: str = "cascade"
    detector: str = "hybrid"
    """``hybrid``, ``content``, ``adaptive`` or ``transnetv2`` (see DetectorSettings)."""
    threshold: float | None = None
    min_scene_len: int | None = None
    """None: the detector's own default (3 frames for hybrid and transnetv2, 15 otherwise)."""
    split_mode: str = _CLIPS.mode
    min_clip_s: float = _CLIPS.min_duration_s
    clip_audio_codec: str = _CLIPS.audio_codec
    """Clip audio: ``alac`` (lossless) or ``aac`` (128 kb/s); see ClipSettings."""
    clip_container: str = _CLIPS.container
    """Clip files: ``auto`` (MP4, Matroska for copies MP4 cannot hold), ``mp4`` or ``mkv``."""
    clip_decode_check: bool = _CLIPS.decode_check
    """Decode each stream-copied clip once; a damaged frame makes its scene re-encoded."""
    max_clip_s: float = _CLIPS.max_clip_s
    """A scene longer than this is cut into windows at keyframes, a clip each; 0: whole scenes."""
    max_lost_share: float = 0.5
    max_short_share: float = 0.5
    motion_method: str = _MOTION.method
    """clip_motion reads ``auto`` (the codec's motion vectors, frame differences where there
    are none), ``vectors`` or ``framediff``; the figures below are MotionSettings'."""
    motion_analysis_width: int = _MOTION.analysis_width
    """Motion figures are pixels per frame at this width."""
    motion_static_frame_px: float = _MOTION.static_frame_px
    motion_min_px: float = _MOTION.min_motion_px
    motion_min_patch_px: float = _MOTION.min_patch_motion_px
    motion_max_static_share: float = _MOTION.max_static_share
    motion_camera_min_px: float = _MOTION.camera_min_px
    motion_cut_similarity: float = _MOTION.cut_similarity
    motion_min_drop: float = _MOTION.min_drop
    motion_flash_frames: int = _MOTION.flash_frames
    motion_workers: int = _MOTION.workers
    """Clips measured at once (0: as many as the CPUs this process may use, at most 2)."""

    def motion_settings(self) -> MotionSettings:
        try:
            return MotionSettings(
                method=self.motion_method,  # type: ignore[arg-type]  # validated by MotionSettings
                analysis_width=self.motion_analysis_width,
                static_frame_px=self.motion_static_frame_px,
                min_motion_px=self.motion_min_px,
                min_patch_motion_px=self.motion_min_patch_px,
                max_static_share=self.motion_max_static_share,
                camera_min_px=self.motion_camera_min_px,
                cut_similarity=self.motion_cut_similarity,
                min_drop=self.motion_min_drop,
                flash_frames=self.motion_flash_frames,
                workers=self.motion_workers,
            )
        except ValueError as exc:
            raise ConfigError("video_config", str(exc)) from None

    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(
            detector=self.detector,  # type: ignore[arg-type]  # validated by DetectorSettings
            threshold=self.threshold,
            min_scene_len=self.min_scene_len,
        )

    def clip_settings(self) -> ClipSettings:
        try:
            return ClipSettings(
                mode=self.split_mode,  # type: ignore[arg-type]  # validated by ClipSettings
                min_duration_s=self.min_clip_s,
                audio_codec=self.clip_audio_codec,  # type: ignore[arg-type]
                container=self.clip_container,  # type: ignore[arg-type]
                decode_check=self.clip_decode_check,
                max_clip_s=self.max_clip_s,
            )
        except ValueError as exc:
            raise ConfigError("video_config", str(exc)) from None


class AudioStageConfig(dg.ConfigurableResource):
    """Settings of the separation and transcription stages (see docs/audio.md for each one)."""

    device: str = _SEPARATION.device
    separator: str = _SEPARATION.separator
    """``auto`` (Demucs when a model is found, else Spleeter from its wheel), ``demucs``, ``spleeter`` or ``passthrough``."""
    demucs_model: str = _SEPARATION.model
    demucs_repo: str = ""
    demucs_segment_s: float | None = _SEPARATION.segment_s
    demucs_overlap: float = _SEPARATION.overlap
    demucs_shifts: int = _SEPARATION.shifts
    allow_passthrough: bool = _SEPARATION.allow_passthrough
    """When no separation model loads, pass the mix through as the vocal stem (a check warns) instead of failing."""
    audio_stream: int | None = _SEPARATION.audio_stream
    whisper_model: str = ""
    """faster-whisper folder or model name (cache, else hub); empty: the packaged multilingual base (tiny.en when language is en)."""
    compute_type: str = _TRANSCRIPTION.compute_type
    batch_size: int = _TRANSCRIPTION.batch_size
    language: str = ""
    """ISO code; empty: detect (per speech chunk, with the multilingual model)."""
    allow_download: bool = _TRANSCRIPTION.allow_download
    """Download a named model that is not cached (VIDEO_ASSETS_OFFLINE=1 or HF_HUB_OFFLINE=1 forbid it anyway)."""
    min_language_probability: float = MIN_LANGUAGE_PROBABILITY
    """doubtful_transcripts flags a video whose language probability is below this ..."""
    max_loop_share: float = MAX_LOOP_SHARE
    """... or whose word trigrams repeat more than this share over at least MIN_LOOP_WORDS words."""
    mix_min_logprob: float | None = _TRANSCRIPTION.mix_min_logprob
    """Decode a speech chunk from the mix too where the stem's decode scores below this mean
    log-probability (0: every chunk, the default; None: the stem alone, half the ASR time)."""
    transcribe_block_s: float = _TRANSCRIPTION.block_s
    """Seconds of the vocal stem the VAD and the offline diarizer read at once (10 to 3600):
    transcription reads the stem a stretch at a time and never holds it whole."""
    aligner: str = _TRANSCRIPTION.aligner
    align_model_dir: str = ""
    diarize: bool = True  # the library's default is off; the pipeline finds speakers
    """Find speakers (offline: the whisperx wheel's segmentation model + Resemblyzer) and fill words.speaker."""
    diarization_dir: str = ""
    """A pyannote pipeline folder; it takes precedence over the offline diarizer."""
    num_speakers: int | None = _TRANSCRIPTION.num_speakers
    """Exact speaker count when known; None: estimated."""
    min_overlap_cover: float = OVERLAP_COVER
    """speaker_overlap counts a word when two speakers' turns each cover at least this share of it (0.5)."""
    max_overlap_share: float = 0.05
    """The speaker_overlap check passes while at most this share of words is spoken over by a second speaker."""
    min_word_score: float = _QUALITY.min_score
    """Words below this score are low-confidence: in the transcript marks, the low_confidence_words
    check, the shard rules (training_shards) and the previews."""
    low_word_run: int = _QUALITY.low_run
    max_low_share: float = 0.25
    """The low_confidence_words check passes while at most this share of words score below min_word_score."""
    max_hallucinated_share: float = 0.0
    """The hallucinated_segments check passes while at most this share of segments is flagged."""

    def separation_settings(self) -> SeparationSettings:
        try:
            return SeparationSettings(
                separator=self.separator,  # type: ignore[arg-type]  # validated by SeparationSettings
                model=self.demucs_model,
                repo=Path(self.demucs_repo) if self.demucs_repo else None,
                device=self.device,
                segment_s=self.demucs_segment_s,
                overlap=self.demucs_overlap,
                shifts=self.demucs_shifts,
                allow_passthrough=self.allow_passthrough,
                audio_stream=self.audio_stream,
            )
        except ValueError as exc:
            raise ConfigError("audio_config", str(exc)) from None

    def quality_settings(self) -> QualitySettings:
        try:
            return QualitySettings(min_score=self.min_word_score, low_run=self.low_word_run)
        except ValueError as exc:
            raise ConfigError("audio_config", str(exc)) from None

    def transcription_settings(self) -> TranscriptionSettings:
        try:
            return TranscriptionSettings(
                whisper_model=self.whisper_model or None,
                compute_type=self.compute_type,
                batch_size=self.batch_size,
                language=self.language or None,
                device=self.device,
                allow_download=self.allow_download,
                aligner=self.aligner,  # type: ignore[arg-type]
                align_model_dir=Path(self.align_model_dir) if self.align_model_dir else None,
                diarize=self.diarize,
                diarization_dir=Path(self.diarization_dir) if self.diarization_dir else None,
                num_speakers=self.num_speakers,
                mix_min_logprob=self.mix_min_logprob,
                block_s=self.transcribe_block_s,
                quality=self.quality_settings(),
            )
        except ValueError as exc:
            raise ConfigError("audio_config", str(exc)) from None


class TokenStageConfig(dg.ConfigurableResource):
    """Settings of the tokenizer training and the token encoding (see docs/tokens.md).

    The defaults are a small configuration that trains on a CPU in minutes; a GPU run
    raises ``train_steps``, ``resolution`` and ``channels``.
    """

    checkpoint: str = ""
    """A tokenizer checkpoint made elsewhere; when set, tokenizer_model records it and does not train."""
    device: str = "auto"
    bits: int = 18
    group_bits: int = 9
    spatial_stride: int = 8
    temporal_stride: int = 4
    channels: int = 16
    resolution: int = 32
    """Short side in pixels that frames are resized to (aspect ratio kept)."""
    train_steps: int = 300
    train_frames: int = 9
    batch_size: int = 4
    learning_rate: float = 3e-4
    max_train_clips: int = 64
    seed: int = 0
    encode_max_frames: int = 0
    """Encode at most this many frames of each clip (0: the whole clip)."""

    @classmethod
    def from_env(cls) -> TokenStageConfig:
        """The defaults with the ``VIDEO_ASSETS_TOKENIZER_*`` variables of docs/tokens.md applied
        (the main job's settings; a bad value raises ConfigError naming the variable)."""
        values: dict[str, Any] = {}
        for field_name, (variable, kind) in _TOKEN_ENV.items():
            raw = os.environ.get(variable, "")
            if raw == "":
                continue
            try:
                values[field_name] = kind(raw)
            except ValueError:
                raise ConfigError(variable, f"must be {kind.__name__}, got {raw!r}") from None
        return cls(**values)

    def tokenizer_config(self):  # noqa: ANN201 - TokenizerConfig, imported lazily (torch)
        from video_assets.tokens import TokenizerConfig

        try:
            return TokenizerConfig(
                bits=self.bits,
                group_bits=self.group_bits,
                spatial_stride=self.spatial_stride,
                temporal_stride=self.temporal_stride,
                channels=self.channels,
                resolution=self.resolution,
            )
        except ValueError as exc:
            raise ConfigError("token_config", str(exc)) from None

    def train_settings(self):  # noqa: ANN201 - TrainSettings, imported lazily (torch)
        from video_assets.tokens import TrainSettings

        try:
            return TrainSettings(
                model=self.tokenizer_config(),
                steps=self.train_steps,
                frames=self.train_frames,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                seed=self.seed,
                device=self.device,
                max_clips=self.max_train_clips,
                max_frames_per_clip=max(64, self.train_frames),
            )
        except ValueError as exc:
            raise ConfigError("token_config", str(exc)) from None


_TOKEN_ENV: dict[str, tuple[str, type]] = {
    "checkpoint": ("VIDEO_ASSETS_TOKENIZER_CHECKPOINT", str),
    "device": ("VIDEO_ASSETS_TOKENIZER_DEVICE", str),
    "train_steps": ("VIDEO_ASSETS_TOKENIZER_STEPS", int),
    "resolution": ("VIDEO_ASSETS_TOKENIZER_RESOLUTION", int),
    "train_frames": ("VIDEO_ASSETS_TOKENIZER_FRAMES", int),
    "batch_size": ("VIDEO_ASSETS_TOKENIZER_BATCH", int),
    "learning_rate": ("VIDEO_ASSETS_TOKENIZER_LR", float),
    "bits": ("VIDEO_ASSETS_TOKENIZER_BITS", int),
    "spatial_stride": ("VIDEO_ASSETS_TOKENIZER_SPATIAL_STRIDE", int),
    "channels": ("VIDEO_ASSETS_TOKENIZER_CHANNELS", int),
    "seed": ("VIDEO_ASSETS_TOKENIZER_SEED", int),
    "max_train_clips": ("VIDEO_ASSETS_TOKENIZER_MAX_CLIPS", int),
    "encode_max_frames": ("VIDEO_ASSETS_TOKENIZER_MAX_FRAMES", int),
}
"""TokenStageConfig field -> (environment variable, type), as docs/tokens.md lists them."""


class ShardStageConfig(dg.ConfigurableResource):
    """Shard packing and the exclusion rules (see docs/shards.md)."""

    target_bytes: int = 1 << 30
    frame_window: int = 0
    min_clip_s: float = _CLIPS.min_duration_s
    max_leaked_frames: int = 0
    require_tokens: bool = True
    max_low_word_share: float = 0.25
    """Leave out a clip with more than this share of low-confidence words (below
    ``audio_config.min_word_score``, the one word-score setting)."""
    max_dropped_segments: int = 0
    require_current_tokenizer: bool = True
    compact: bool = False
    """After adding this run's samples, merge each bucket's small shards (see compact_min_fill)."""
    compact_min_fill: float = 0.5
    """With compact: a shard under this share of target_bytes is merged with the bucket's other small ones."""
    exclude_static: bool = True
    """Leave static clips and slideshows (by clip_motion's figures and the thresholds below) out."""
    motion_min_px: float = _MOTION.min_motion_px
    """Static: mean motion under this (px/frame at the analysis width) and no patch moving motion_min_patch_px."""
    motion_min_patch_px: float = _MOTION.min_patch_motion_px
    motion_max_static_share: float = _MOTION.max_static_share
    """Static (or, with a cut inside, a slideshow): at least this share of near-static frames."""

    def shard_settings(self):  # noqa: ANN201 - ShardSettings
        from video_assets.shards.settings import ShardSettings

        return ShardSettings(target_bytes=self.target_bytes, frame_window=self.frame_window)

    def rules(self, checkpoint_hash: str | None, min_word_score: float):  # noqa: ANN201 - ExclusionRules
        """The exclusion rules; ``min_word_score`` is ``audio_config``'s, so the shards judge
        words by the score the transcripts were marked with."""
        from video_assets.shards.settings import ExclusionRules

        try:
            motion = (
                MotionSettings(
                    min_motion_px=self.motion_min_px,
                    min_patch_motion_px=self.motion_min_patch_px,
                    max_static_share=self.motion_max_static_share,
                )
                if self.exclude_static
                else None
            )
        except ValueError as exc:
            raise ConfigError("shard_config", str(exc)) from None
        return ExclusionRules(
            max_leaked_frames=self.max_leaked_frames,
            min_duration_s=self.min_clip_s,
            require_tokens=self.require_tokens,
            min_word_score=min_word_score,
            max_low_word_share=self.max_low_word_share,
            max_dropped_segments=self.max_dropped_segments,
            checkpoint_hash=checkpoint_hash if self.require_current_tokenizer else None,
            motion=motion,
        )


def _env_set(variables: dict[str, str]) -> dict[str, Any]:
    """``field: dg.EnvVar(variable)`` for each variable that is set (resolved at run time);
    the fields of unset ones keep their defaults."""
    return {field: dg.EnvVar(var) for field, var in variables.items() if os.environ.get(var)}


def _env_flag(name: str) -> bool | None:
    """A yes/no variable (Dagster has no boolean EnvVar); None when unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be 1/true/yes/on or 0/false/no/off, got {value!r}")


_AUDIO_ENV = {
    "device": "VIDEO_ASSETS_DEVICE",
    "separator": "VIDEO_ASSETS_SEPARATOR",
    "demucs_model": "VIDEO_ASSETS_DEMUCS_MODEL",
    "demucs_repo": "VIDEO_ASSETS_DEMUCS_REPO",
    "whisper_model": "VIDEO_ASSETS_WHISPER_MODEL",
    "compute_type": "VIDEO_ASSETS_WHISPER_COMPUTE_TYPE",
    "language": "VIDEO_ASSETS_LANGUAGE",
    "aligner": "VIDEO_ASSETS_ALIGNER",
    "align_model_dir": "VIDEO_ASSETS_ALIGN_MODEL_DIR",
    "diarization_dir": "VIDEO_ASSETS_DIARIZATION_DIR",
}
_AUDIO_FLAGS = {
    "allow_passthrough": "VIDEO_ASSETS_ALLOW_PASSTHROUGH",
    "diarize": "VIDEO_ASSETS_DIARIZE",
}
"""AudioStageConfig field -> environment variable, as docs/audio.md lists them."""


def audio_config_from_env() -> AudioStageConfig:
    """The audio settings with the ``VIDEO_ASSETS_*`` variables of docs/audio.md applied."""
    flags: dict[str, Any] = {field: _env_flag(var) for field, var in _AUDIO_FLAGS.items()}
    return AudioStageConfig(
        **_env_set(_AUDIO_ENV), **{k: v for k, v in flags.items() if v is not None}
    )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources as deployed: paths and models come from the environment (see README)."""
    s3: dict[str, Any] = _env_set(S3_ENV)
    return {
        "store": StoreResource(
            data_root=dg.EnvVar("VIDEO_ASSETS_DATA_ROOT"),
            landing_dir=dg.EnvVar("VIDEO_ASSETS_LANDING_DIR"),
            **s3,
        ),
        "video_config": VideoStageConfig(),
        "audio_config": audio_config_from_env(),
        "shard_config": ShardStageConfig(),
        "token_config": TokenStageConfig(
            **_env_set(
                {"checkpoint": "VIDEO_ASSETS_TOKENIZER_CHECKPOINT", "device": "VIDEO_ASSETS_DEVICE"}
            )
        ),
    }
