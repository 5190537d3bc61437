"""Demucs (htdemucs by default) as a separator, loaded without a network.

Where a model comes from, in this order:

1. ``model`` is a folder: a Demucs model repository (``<sig>.th`` files saved the way
   Demucs saves them, and optionally ``<name>.yaml`` bags listing signatures); the folder
   must hold exactly one bag, or else exactly one model.
2. ``repo`` is set: the named model (bag or signature) from that folder, as
   ``demucs --repo DIR -n NAME`` does.
3. Neither: the usual caches: the Hugging Face cache (the ``adefossez/HTDemucs*``
   repositories Demucs 4.1 downloads into) and the torch hub checkpoint folder (where
   Demucs 4.0 put ``955717e8-8726e21a.th`` for htdemucs), with the bag definitions shipped
   inside the demucs package;
4. the hub repository itself, downloaded into the Hugging Face cache, unless downloads are
   off (``VIDEO_ASSETS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``; see :mod:`video_assets.models`).

When none holds the model, :class:`ModelUnavailable` says where it looked.
"""

from __future__ import annotations

import gc
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.separators.base import ModelUnavailable, Separator, Stems
from video_assets.errors import ConfigError

VOCALS = "vocals"


def _import_demucs() -> Any:
    try:
        import demucs.apply
        import demucs.pretrained
        import demucs.repo
    except ImportError as exc:  # pragma: no cover - demucs is a declared dependency
        raise ImportError(
            f"the Demucs separator needs the demucs package ({exc}); `uv add demucs`"
        ) from exc
    return demucs


def _single_model_name(folder: Path) -> str:
    bags = sorted(p.stem for p in folder.glob("*.yaml"))
    if len(bags) == 1:
        return bags[0]
    if len(bags) > 1:
        raise ConfigError(
            "VIDEO_ASSETS_DEMUCS_MODEL",
            f"{folder} holds several model bags ({', '.join(bags)}); set VIDEO_ASSETS_DEMUCS_REPO "
            "to the folder and VIDEO_ASSETS_DEMUCS_MODEL to one of the names",
        )
    sigs = sorted(
        {p.stem.rsplit("-", 1)[0] if "-" in p.stem else p.stem for p in folder.glob("*.th")}
    )
    if len(sigs) == 1:
        return sigs[0]
    if not sigs:
        raise ModelUnavailable(
            str(folder), [str(folder)], "the folder holds no .th model and no .yaml bag"
        )
    raise ConfigError(
        "VIDEO_ASSETS_DEMUCS_MODEL",
        f"{folder} holds several models ({', '.join(sigs)}); name one with VIDEO_ASSETS_DEMUCS_MODEL "
        "and give the folder as VIDEO_ASSETS_DEMUCS_REPO",
    )


def _from_repo(name: str, repo: Path) -> Any:
    dm = _import_demucs()
    if not repo.is_dir():
        raise ModelUnavailable(name, [str(repo)], "the folder does not exist")
    model_repo = dm.repo.LocalRepo(repo)
    any_repo = dm.repo.AnyModelRepo(model_repo, dm.repo.BagOnlyRepo(repo, model_repo))
    if not any_repo.has_model(name):
        raise ModelUnavailable(
            name, [str(repo)], f"no {name}.yaml bag and no {name}*.th model there"
        )
    try:
        return any_repo.get_model(name)
    except dm.repo.ModelLoadingError as exc:
        raise ModelUnavailable(name, [str(repo)], str(exc)) from None


def _from_hf_cache(name: str) -> Any | None:
    """The bag from the local Hugging Face cache, or None (no download is attempted)."""
    try:
        import yaml
        from demucs.apply import BagOfModels
        from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    namespace, short = name.split("/", 1) if "/" in name else (DEFAULT_NAMESPACE, name)
    repo_id = f"{namespace}/{hf_repo_name(short)}"
    try:
        with open(hf_hub_download(repo_id, f"{short}.yaml", local_files_only=True)) as f:
            bag = yaml.safe_load(f)
        models = [
            load_safetensors_model(
                hf_hub_download(repo_id, f"{sig}.safetensors", local_files_only=True)
            )
            for sig in bag["models"]
        ]
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def _from_torch_hub_cache(name: str) -> Any | None:
    """The bag from torch hub's checkpoint folder, with the bag yaml shipped in demucs."""
    import torch
    import yaml

    dm = _import_demucs()
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    bag_file = dm.pretrained.REMOTE_ROOT / f"{name}.yaml"
    if not checkpoints.is_dir():
        return None
    sigs = yaml.safe_load(bag_file.read_text())["models"] if bag_file.is_file() else [name]
    files = []
    for sig in sigs:
        found = sorted(checkpoints.glob(f"{sig}-*.th")) + sorted(checkpoints.glob(f"{sig}.th"))
        if not found:
            return None
        files.append(found[0])
    from demucs.apply import BagOfModels
    from demucs.states import load_model

    models = [load_model(f) for f in files]
    if bag_file.is_file():
        bag = yaml.safe_load(bag_file.read_text())
        return BagOfModels(models, bag.get("weights"), bag.get("segment"))
    return models[0]


def _from_hub(name: str, looked: list[str]) -> tuple[Any | None, str]:
    """Download the bag from its hub repository when downloads are allowed, then load it."""
    from video_assets.models import demucs_repo, hub_download, offline_reason

    repo_id = demucs_repo(name)
    if repo_id is None:
        return None, ""
    if offline_reason():
        looked.append(f"the hub ({repo_id}; downloads are off: {offline_reason()})")
        return None, ""
    try:
        hub_download(repo_id)
    except ModelUnavailable as exc:
        looked.append(f"the hub ({repo_id}; {exc.reason})")
        return None, ""
    loaded = _from_hf_cache(name)
    return loaded, f"downloaded from the hub ({repo_id})"


def load_demucs_model(model: str, repo: Path | None = None) -> tuple[Any, str]:
    """Load a Demucs model (or bag of models) from a folder or the local caches.

    Args:
        model: A model name (``htdemucs``, ``htdemucs_ft``, a signature) or a model folder.
        repo: A folder holding named models (``demucs --repo``), or None.

    Returns:
        The model in eval mode and a description of where it came from.

    Raises:
        ModelUnavailable: No local copy exists where it looked.
        ConfigError: The folder is ambiguous (several models and none named).
    """
    import torch

    looked: list[str] = []
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        name = _single_model_name(as_path)
        loaded, origin = _from_repo(name, as_path), f"{as_path} ({name})"
    elif repo is not None:
        loaded, origin = _from_repo(model, Path(repo).expanduser()), f"{repo} ({model})"
    elif model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelUnavailable(model, [str(as_path)], "no such folder")
    else:
        loaded = _from_hf_cache(model)
        origin = f"Hugging Face cache ({model})"
        looked.append("the Hugging Face cache (HF_HOME)")
        if loaded is None:
            loaded = _from_torch_hub_cache(model)
            origin = f"torch hub cache ({model})"
            looked.append(str(Path(torch.hub.get_dir()) / "checkpoints"))
        if loaded is None:
            loaded, origin = _from_hub(model, looked)
        if loaded is None:
            raise ModelUnavailable(model, looked, "no cached copy")
    loaded.eval()
    return loaded, origin


class DemucsSeparator(Separator):
    """Vocals and accompaniment from a Demucs model.

    Args:
        model: Model name or folder (see :func:`load_demucs_model`).
        repo: Folder of named models, or None.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        segment_s: Length of the chunks the model sees, in seconds; None for the model's own.
            A transformer model (htdemucs) cannot take more than it was trained on (7.8 s).
        overlap: Overlap between chunks, in [0, 0.95].
        shifts: Random time shifts averaged per chunk (Demucs' ``--shifts``), 0 to 20.
        seed: Seed of those shifts, so a run is reproducible.

    Raises:
        ModelUnavailable: The model has no local copy.
        ValueError: A setting is out of range.
    """

    backend = "demucs"

    def __init__(
        self,
        *,
        model: str = "htdemucs",
        repo: Path | None = None,
        device: str = "cpu",
        segment_s: float | None = None,
        overlap: float = 0.25,
        shifts: int = 1,
        seed: int = 0,
    ):
        if segment_s is not None and not 1.0 <= segment_s <= 600.0:
            raise ValueError(f"segment_s must be in [1, 600] seconds or None, got {segment_s}")
        if not 0.0 <= overlap <= 0.95:
            raise ValueError(f"overlap must be in [0, 0.95], got {overlap}")
        if not 0 <= shifts <= 20:
            raise ValueError(f"shifts must be in [0, 20], got {shifts}")
        self.device = device
        self.overlap = overlap
        self.shifts = shifts
        self.seed = seed
        self._model, self.origin = load_demucs_model(model, repo)
        self.name = model if not Path(model).expanduser().is_dir() else self.origin
        sources = list(self._model.sources)
        if VOCALS not in sources:
            raise ConfigError(
                "VIDEO_ASSETS_DEMUCS_MODEL",
                f"model {model!r} has no vocals source (sources: {', '.join(sources)})",
            )
        self.sources = sources
        self.sample_rate = int(self._model.samplerate)
        self.channels = int(self._model.audio_channels)
        self.max_segment_s = self._max_segment()
        if (
            segment_s is not None
            and self.max_segment_s is not None
            and segment_s > self.max_segment_s
        ):
            raise ValueError(
                f"segment_s must be at most {self.max_segment_s:g} s for {model!r} "
                f"(a transformer model cannot see longer chunks than it was trained on), got {segment_s}"
            )
        self.segment_s = segment_s

    def _max_segment(self) -> float | None:
        from demucs.apply import BagOfModels
        from demucs.htdemucs import HTDemucs

        models = self._model.models if isinstance(self._model, BagOfModels) else [self._model]
        limits = [float(m.segment) for m in models if isinstance(m, HTDemucs)]
        return min(limits) if limits else None

    def separate(self, mix: np.ndarray) -> Stems:
        import torch
        from demucs.apply import apply_model

        if self._model is None:
            raise RuntimeError("the separator was closed")
        wav = torch.from_numpy(np.ascontiguousarray(mix, dtype=np.float32))
        if wav.ndim != 2 or wav.shape[0] != self.channels:
            raise ValueError(f"mix must be (channels={self.channels}, n), got {tuple(wav.shape)}")
        # Demucs normalises by the mono reference's mean and std (as demucs.api does).
        ref = wav.mean(0)
        mean, std = ref.mean(), ref.std() + 1e-8
        state = random.getstate()
        random.seed(self.seed)  # apply_model draws its shifts from the global generator
        # The same thread count on every call: other libraries in the process (CTranslate2's
        # OpenMP) may change it, and float sums in another order give other bits.
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)
        try:
            with torch.inference_mode():
                out = apply_model(
                    self._model,
                    ((wav - mean) / std)[None],
                    shifts=self.shifts,
                    split=True,
                    overlap=self.overlap,
                    segment=self.segment_s,
                    device=self.device,
                    progress=False,
                    num_workers=0,
                )
        finally:
            random.setstate(state)
            torch.set_num_threads(threads)
        sources = (out[0] * std + mean).cpu().numpy()
        v = self.sources.index(VOCALS)
        vocals = sources[v]
        accompaniment = sources[[i for i in range(len(self.sources)) if i != v]].sum(axis=0)
        return Stems(
            vocals=vocals.astype(np.float32), accompaniment=accompaniment.astype(np.float32)
        )

    def close(self) -> None:
        model, self._model = self._model, None
        del model
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
