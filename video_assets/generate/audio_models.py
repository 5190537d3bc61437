"""Randomly initialised models of the real architectures, saved the way their loaders expect.

No package ships Demucs or wav2vec2 weights, and they cannot be downloaded here. These
builders let tests and benchmarks run the *real* loading, chunking and alignment code on
models of the real classes: an ``HTDemucs`` saved as a Demucs local repository (a
``<sig>-<checksum>.th`` package plus a ``<name>.yaml`` bag), and a ``Wav2Vec2ForCTC`` with
an English character vocabulary saved with its processor as a Hugging Face folder.

Their outputs are meaningless (random weights); their speed is not: the ``full`` HTDemucs
has the released htdemucs hyper-parameters, so its real-time factor is the real one.
"""

from __future__ import annotations

import hashlib
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Literal

DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]

# The released htdemucs (demucs/grids/mmi.py, "extra44" with 512 bottom channels, dconv
# mode 3): 42.0 M parameters, trained on 7.8 s segments.
HTDEMUCS_FULL = dict(
    channels=48,
    depth=4,
    dconv_mode=3,
    bottom_channels=512,
    t_layers=5,
    t_dropout=0.02,
    nfft=4096,
    samplerate=44100,
    segment=Fraction(39, 5),
)
# Same classes and code paths, a few thousand parameters: for tests.
# (depth 4 with nfft 4096 keeps the transformer's token count as small as the real one's).
HTDEMUCS_TINY = dict(
    channels=4,
    depth=4,
    nfft=4096,
    t_layers=1,
    t_heads=2,
    t_hidden_scale=1.0,
    bottom_channels=0,
    dconv_comp=2,
    samplerate=44100,
    segment=Fraction(2, 1),
)

# The character vocabulary of facebook/wav2vec2-base-960h (upper-case letters, apostrophe,
# "|" for the word boundary), which WhisperX lower-cases into its alignment dictionary.
WAV2VEC2_EN_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]


def save_random_htdemucs(
    folder: str | Path,
    *,
    name: str = "htdemucs_random",
    size: Literal["tiny", "full"] = "tiny",
    seed: int = 0,
) -> Path:
    """Write a random HTDemucs as a Demucs local model repository.

    Args:
        folder: Created if needed; receives ``<sig>-<checksum>.th`` and ``<name>.yaml``.
        name: The bag name (what ``--name``/VIDEO_ASSETS_DEMUCS_MODEL selects).
        size: ``tiny`` for tests, ``full`` for the released htdemucs architecture.
        seed: torch seed of the initialisation.

    Returns:
        The folder.
    """
    import torch
    from demucs.htdemucs import HTDemucs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    kwargs = dict(HTDEMUCS_FULL if size == "full" else HTDEMUCS_TINY)
    model = HTDemucs(sources=list(DEMUCS_SOURCES), **kwargs)
    args, init_kwargs = model._init_args_kwargs
    package = {
        "klass": HTDemucs,
        "args": args,
        "kwargs": init_kwargs,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(package, buf)
    data = buf.getvalue()
    sig = hashlib.sha256(f"{name}-{size}-{seed}".encode()).hexdigest()[:8]
    checksum = hashlib.sha256(data).hexdigest()[:8]  # what demucs.repo.LocalRepo verifies
    (folder / f"{sig}-{checksum}.th").write_bytes(data)
    (folder / f"{name}.yaml").write_text(f"models: ['{sig}']\n")
    return folder


def save_random_wav2vec2(folder: str | Path, *, seed: int = 0, hidden_size: int = 32) -> Path:
    """Write a small random ``Wav2Vec2ForCTC`` with an English character vocabulary.

    The folder is what ``Wav2Vec2Processor.from_pretrained`` and
    ``Wav2Vec2ForCTC.from_pretrained`` read (config, weights, vocabulary, feature
    extractor settings), so WhisperX's ``load_align_model`` takes it as a local model.

    Args:
        folder: Created if needed.
        seed: torch seed of the initialisation.
        hidden_size: Transformer width (a multiple of 4).

    Returns:
        The folder.
    """
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(WAV2VEC2_EN_VOCAB)}))
    tokenizer = Wav2Vec2CTCTokenizer(
        str(vocab_file),
        unk_token="<unk>",
        pad_token="<pad>",
        word_delimiter_token="|",
        do_lower_case=False,
    )
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    )
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=len(WAV2VEC2_EN_VOCAB),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * hidden_size,
        conv_dim=(32, 32, 32, 32, 32, 32, 32),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        pad_token_id=0,
        ctc_loss_reduction="mean",
    )
    Wav2Vec2ForCTC(config).eval().save_pretrained(str(folder))
    return folder


def save_random_diarization_pipeline(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a pyannote speaker-diarization pipeline folder that loads without a network.

    ``config.yaml`` names ``pyannote.audio.pipelines.SpeakerDiarization`` with
    ``$model/<subfolder>`` entries, as the published pipelines do:

    - ``segmentation/``: the pyannote segmentation model shipped in the whisperx wheel
      (real weights; WhisperX uses it as its VAD);
    - ``embedding/``: a randomly initialised ``XVectorMFCC`` saved as a pyannote checkpoint;
    - ``plda/``: a random but well-formed PLDA (``xvec_transform.npz``, ``plda.npz``).

    Clustering is agglomerative. Speaker labels from it are meaningless (random embeddings);
    the loading and inference code paths are the real ones.

    Args:
        folder: Created if needed.
        seed: Seed of the random parts.

    Returns:
        The folder.
    """
    import shutil

    import lightning
    import numpy as np
    import torch
    import whisperx
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC

    folder = Path(folder)
    for sub in ("segmentation", "embedding", "plda"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        Path(whisperx.__file__).parent / "assets" / "pytorch_model.bin",
        folder / "segmentation" / "pytorch_model.bin",
    )

    torch.manual_seed(seed)
    model = XVectorMFCC()
    model.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0
    )
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)  # adds pyannote's versions, architecture, specifications
    torch.save(checkpoint, folder / "embedding" / "pytorch_model.bin")
    dim = int(model(torch.zeros(1, 1, 16000)).shape[-1])

    rng = np.random.default_rng(seed)
    lda_dim = min(128, dim)
    np.savez(
        folder / "plda" / "xvec_transform.npz",
        mean1=np.zeros(dim),
        mean2=np.zeros(lda_dim),
        lda=rng.standard_normal((dim, lda_dim)) / np.sqrt(dim),
    )
    rotation, _ = np.linalg.qr(rng.standard_normal((lda_dim, lda_dim)))
    np.savez(
        folder / "plda" / "plda.npz",
        mu=np.zeros(lda_dim),
        tr=rotation,
        psi=np.linspace(2.0, 0.1, lda_dim),
    )

    config = {
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                "segmentation": "$model/segmentation",
                "embedding": "$model/embedding",
                "plda": "$model/plda",
                "clustering": "AgglomerativeClustering",
                "embedding_exclude_overlap": True,
                "segmentation_step": 0.5,
            },
        },
        "params": {
            "segmentation": {"threshold": 0.5, "min_duration_off": 0.0},
            "clustering": {"method": "centroid", "min_cluster_size": 2, "threshold": 0.7},
        },
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder
