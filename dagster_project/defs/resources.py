"""Resources: where data lives and the settings of each stage, configured through EnvVar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from fsspec.core import split_protocol

from video_assets.audio.quality import QualitySettings
from video_assets.audio.separation import SeparationSettings
from video_assets.audio.transcription import TranscriptionSettings
from video_assets.clips import ClipSettings
from video_assets.errors import ConfigError
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


class VideoStageConfig(dg.ConfigurableResource):
    """Settings of the scene and clip stages (see README, Configuration)."""

    scene_mode: str = "cascade"
    detector: str = "content"
    threshold: float | None = None
    min_scene_len: int = 15
    split_mode: str = "copy"
    min_clip_s: float = 3.0
    clip_audio_codec: str = "alac"
    """Clip audio: ``alac`` (lossless) or ``aac`` (128 kb/s); see ClipSettings."""
    max_lost_share: float = 0.5
    max_short_share: float = 0.5

    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(
            detector=self.detector,  # type: ignore[arg-type]  # validated by DetectorSettings
            threshold=self.threshold,
            min_scene_len=self.min_scene_len,
        )

    def clip_settings(self) -> ClipSettings:
        return ClipSettings(
            mode=self.split_mode,  # type: ignore[arg-type]  # validated by ClipSettings
            min_duration_s=self.min_clip_s,
            audio_codec=self.clip_audio_codec,  # type: ignore[arg-type]
        )


class AudioStageConfig(dg.ConfigurableResource):
    """Settings of the separation and transcription stages (see docs/audio.md for each one)."""

    device: str = "cpu"
    demucs_model: str = "htdemucs"
    demucs_repo: str = ""
    demucs_segment_s: float | None = None
    demucs_overlap: float = 0.25
    demucs_shifts: int = 1
    allow_passthrough: bool = False
    """Without a Demucs model, pass the mix through as the vocal stem (a check warns) instead of failing."""
    audio_stream: int | None = None
    whisper_model: str = ""
    """faster-whisper folder or cached name; empty: the bundled English tiny model."""
    compute_type: str = "default"
    batch_size: int = 8
    language: str = ""
    """ISO code; empty: detect."""
    aligner: str = "auto"
    align_model_dir: str = ""
    diarize: bool = False
    diarization_dir: str = ""
    min_word_score: float = 0.4
    low_word_run: int = 3
    max_low_share: float = 0.25
    """The low_confidence_words check passes while at most this share of words score below min_word_score."""
    max_hallucinated_share: float = 0.0
    """The hallucinated_segments check passes while at most this share of segments is flagged."""

    def separation_settings(self) -> SeparationSettings:
        try:
            return SeparationSettings(
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
                aligner=self.aligner,  # type: ignore[arg-type]
                align_model_dir=Path(self.align_model_dir) if self.align_model_dir else None,
                diarize=self.diarize,
                diarization_dir=Path(self.diarization_dir) if self.diarization_dir else None,
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


class ShardStageConfig(dg.ConfigurableResource):
    """Shard packing and the exclusion rules (see docs/shards.md)."""

    target_bytes: int = 1 << 30
    frame_window: int = 0
    min_clip_s: float = 3.0
    max_leaked_frames: int = 0
    require_tokens: bool = True
    min_word_score: float = 0.4
    max_low_word_share: float = 0.25
    max_dropped_segments: int = 0
    require_current_tokenizer: bool = True

    def shard_settings(self):  # noqa: ANN201 - ShardSettings
        from video_assets.shards import ShardSettings

        return ShardSettings(target_bytes=self.target_bytes, frame_window=self.frame_window)

    def rules(self, checkpoint_hash: str | None):  # noqa: ANN201 - ExclusionRules
        from video_assets.shards import ExclusionRules

        return ExclusionRules(
            max_leaked_frames=self.max_leaked_frames,
            min_duration_s=self.min_clip_s,
            require_tokens=self.require_tokens,
            min_word_score=self.min_word_score,
            max_low_word_share=self.max_low_word_share,
            max_dropped_segments=self.max_dropped_segments,
            checkpoint_hash=checkpoint_hash if self.require_current_tokenizer else None,
        )


def _env_str(name: str, default: str) -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` when the variable is set (resolved at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be 1/true/yes/on or 0/false/no/off, got {value!r}")


def audio_config_from_env() -> AudioStageConfig:
    """The audio settings with the ``VIDEO_ASSETS_*`` variables of docs/audio.md applied."""
    return AudioStageConfig(
        device=_env_str("VIDEO_ASSETS_DEVICE", "cpu"),
        demucs_model=_env_str("VIDEO_ASSETS_DEMUCS_MODEL", "htdemucs"),
        demucs_repo=_env_str("VIDEO_ASSETS_DEMUCS_REPO", ""),
        allow_passthrough=_env_flag("VIDEO_ASSETS_ALLOW_PASSTHROUGH", False),
        whisper_model=_env_str("VIDEO_ASSETS_WHISPER_MODEL", ""),
        compute_type=_env_str("VIDEO_ASSETS_WHISPER_COMPUTE_TYPE", "default"),
        language=_env_str("VIDEO_ASSETS_LANGUAGE", ""),
        aligner=_env_str("VIDEO_ASSETS_ALIGNER", "auto"),
        align_model_dir=_env_str("VIDEO_ASSETS_ALIGN_MODEL_DIR", ""),
        diarize=_env_flag("VIDEO_ASSETS_DIARIZE", False),
        diarization_dir=_env_str("VIDEO_ASSETS_DIARIZATION_DIR", ""),
    )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources as deployed: paths and models come from the environment (see README)."""
    s3: dict[str, Any] = {field: _env_str(var, "") for field, var in S3_ENV.items()}
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
            checkpoint=_env_str("VIDEO_ASSETS_TOKENIZER_CHECKPOINT", ""),
            device=_env_str("VIDEO_ASSETS_DEVICE", "auto"),
        ),
    }
