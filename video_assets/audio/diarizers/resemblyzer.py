"""Offline diarization from two models that ship inside wheels: who speaks when, overlap kept.

- Local speaker activity: the pyannote segmentation model inside the whisperx wheel
  (``whisperx/assets/pytorch_model.bin``, PyanNet), run on 5 s windows sliding by
  ``step_s``; it gives, per frame of each window, the activity of up to 3 local speakers.
- Speaker embeddings: Resemblyzer's ``VoiceEncoder`` (``resemblyzer/pretrained.pt``, GE2E,
  256-d, Apache-2.0), on each local speaker's speech in each window, where possible only the
  frames where that speaker talks alone.
- Clustering across windows: average-linkage agglomerative clustering of the embeddings of
  the local speakers with enough clean speech, cut at a cosine distance (the speaker count
  is estimated) or into the requested number of speakers; then every local speaker of every
  window is given a global speaker, two local speakers of one window never the same one.
- Reconstruction as pyannote's own pipeline does it: the per-frame number of active speakers
  is estimated from the overlapping windows, and that many global speakers, the most active,
  are kept per frame, so overlapping speech gives overlapping turns.

Everything loads from installed packages; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.diarizers.base import (
    SAMPLE_RATE,
    Diarizer,
    SpeakerTurn,
    check_speaker_counts,
)
from video_assets.audio.extract import Samples, as_samples
from video_assets.audio.sliding import BLOCK_S, chunk_scores, window_count
from video_assets.errors import ConfigError

SETTING = "VIDEO_ASSETS_DIARIZATION_DIR"
WINDOW_S = 5.0
"""The segmentation model's window (it was trained on 5 s chunks)."""
VOLUME_DBFS = -30.0
"""Resemblyzer's training loudness; quieter speech is raised to it before embedding."""
PARTIAL_RATE = 1.3
"""Resemblyzer partial utterances (1.6 s each) per second of speech, as its embed_utterance."""
MAX_CLUSTERED = 4000
"""Embeddings clustered at most (about 35 minutes of one speaker at a 0.5 s step); the rest
are assigned to the clusters' centroids like every other window."""


def segmentation_checkpoint() -> Path:
    """The pyannote segmentation model inside the whisperx wheel, found without importing it.

    Raises:
        ConfigError: whisperx is not installed or its wheel lacks the model.
    """
    spec = importlib.util.find_spec("whisperx")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / "assets" / "pytorch_model.bin" if folders else None
    if path is None or not path.is_file():
        raise ConfigError(
            SETTING,
            "no pyannote pipeline folder is configured and the offline diarizer's segmentation "
            f"model is missing (looked in: {path or 'the whisperx package, not installed'})",
        )
    return path


def _quiet_import_resemblyzer() -> Any:
    # webrtcvad (imported by resemblyzer) warns that pkg_resources is deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import resemblyzer
        except ImportError as exc:
            raise ConfigError(
                SETTING,
                f"the offline diarizer needs the resemblyzer package ({exc}); `uv add resemblyzer`, "
                "or point the setting at a pyannote pipeline folder",
            ) from None
    return resemblyzer


class ResemblyzerDiarizer(Diarizer):
    """Speaker diarization with the whisperx wheel's segmentation model and Resemblyzer.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        num_speakers: Exact number of speakers when known (1 to 100).
        min_speakers: Lower bound on the estimated count.
        max_speakers: Upper bound on the estimated count.
        step_s: Hop of the 5 s segmentation window, 0.1 to 5 seconds.
        onset: Activity above which a local speaker is speaking, in (0, 1).
        threshold: Cosine distance at which two clusters of embeddings stay apart, in (0, 2);
            lower finds more speakers.
        min_clean_s: Speech a local speaker needs in a window (alone, where possible) for its
            embedding to take part in clustering, 0.1 to 5 seconds.
        min_cluster_s: A cluster needs windows spanning this many seconds of hops to be a
            speaker of its own (smaller ones join the nearest), 0 to 60 seconds.
        min_duration_off: Pauses shorter than this inside one speaker's turn are filled,
            0 to 5 seconds.
        min_duration_on: Turns shorter than this are dropped (after the pauses are
            filled), 0 to 5 seconds: slivers of a frame or two where voices hand over, not
            speech (a backchannel "mm" lasts 150 ms or more).
        threads: torch threads during a call on CPU, fixed for the diarizer's life; None for
            the count torch has when it is made. On a busy machine fewer threads than cores
            are faster: LSTMs slow down badly when their threads wait for a core.
        block_s: Seconds of audio the segmentation model reads at once
            (:func:`~video_assets.audio.sliding.chunk_scores`); audio read by slices is never
            held whole.

    Raises:
        ConfigError: A model is missing.
        ValueError: A setting is out of range.
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        step_s: float = 0.5,
        onset: float = 0.5,
        threshold: float = 0.25,
        min_clean_s: float = 1.0,
        min_cluster_s: float = 2.5,
        min_duration_off: float = 0.2,
        min_duration_on: float = 0.1,
        threads: int | None = None,
        block_s: float = BLOCK_S,
    ):
        check_speaker_counts(num_speakers, min_speakers, max_speakers)
        if not (device == "cpu" or device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        if not 0.1 <= step_s <= WINDOW_S:
            raise ValueError(f"step_s must be in [0.1, {WINDOW_S:g}] seconds, got {step_s}")
        if not 0.0 < onset < 1.0:
            raise ValueError(f"onset must be in (0, 1), got {onset}")
        if not 0.0 < threshold < 2.0:
            raise ValueError(f"threshold must be in (0, 2), got {threshold}")
        if not 0.1 <= min_clean_s <= 5.0:
            raise ValueError(f"min_clean_s must be in [0.1, 5] seconds, got {min_clean_s}")
        if not 0.0 <= min_cluster_s <= 60.0:
            raise ValueError(f"min_cluster_s must be in [0, 60] seconds, got {min_cluster_s}")
        if not 0.0 <= min_duration_off <= 5.0:
            raise ValueError(f"min_duration_off must be in [0, 5] seconds, got {min_duration_off}")
        if not 0.0 <= min_duration_on <= 5.0:
            raise ValueError(f"min_duration_on must be in [0, 5] seconds, got {min_duration_on}")
        if block_s <= 0:
            raise ValueError(f"block_s must be positive, got {block_s}")
        if threads is not None and not 1 <= threads <= 256:
            raise ValueError(f"threads must be in [1, 256] or None, got {threads}")
        import torch
        from pyannote.audio import Inference, Model

        checkpoint = segmentation_checkpoint()
        resemblyzer = _quiet_import_resemblyzer()
        torch_device = torch.device(device)
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's note on upgrading the old checkpoint
            model = Model.from_pretrained(str(checkpoint))
        if model is None:
            raise ConfigError(SETTING, f"cannot load the segmentation model {checkpoint}")
        self._segmentation: Any = model
        self._inference: Any = Inference(
            model,
            duration=WINDOW_S,
            step=step_s,
            skip_aggregation=True,
            device=torch_device,
            batch_size=32,
        )
        self._encoder: Any = resemblyzer.VoiceEncoder(torch_device, verbose=False)
        hp = resemblyzer.hparams
        self._partials_frames = int(hp.partials_n_frames)
        # Resemblyzer's mel spectrogram (librosa's melspectrogram: power, Slaney mel bands),
        # computed with torch: the same numbers, fifty times faster than through librosa.
        import librosa

        self._n_fft = int(hp.sampling_rate * hp.mel_window_length / 1000)
        self._hop = int(hp.sampling_rate * hp.mel_window_step / 1000)
        self._mel_basis = torch.from_numpy(
            librosa.filters.mel(sr=hp.sampling_rate, n_fft=self._n_fft, n_mels=hp.mel_n_channels)
        )
        self._mel_window = torch.hann_window(self._n_fft)
        self.model = (
            f"pyannote segmentation ({checkpoint.parent.parent.name} wheel) + "
            f"resemblyzer {getattr(resemblyzer, '__version__', '')}".rstrip()
        )
        self.device = device
        self.threads = threads or torch.get_num_threads()
        self.num_speakers = num_speakers
        self.min_speakers = num_speakers or min_speakers or 1
        self.max_speakers = num_speakers or max_speakers or 100
        self.step_s = step_s
        self.onset = onset
        self.threshold = threshold
        self.min_clean_s = min_clean_s
        self.min_cluster_s = min_cluster_s
        self.min_duration_off = min_duration_off
        self.min_duration_on = min_duration_on
        self.block_s = block_s

    def diarize(self, audio: Samples, windows: Any = None) -> list[SpeakerTurn]:
        """Speaker turns of ``audio`` (16 kHz mono); ``windows``: the segmentation model's
        outputs over ``audio`` already computed by the VAD (the same model on the same
        5 s windows, ``AsrOutput.windows``), used instead of computing them again where
        their windows are this diarizer's (else ignored)."""
        import torch

        if self._segmentation is None:
            raise RuntimeError("the diarizer was closed")
        audio = as_samples(audio)
        if isinstance(audio, np.ndarray) and audio.ndim != 1:
            raise ValueError(f"audio must be mono (n,), got {audio.shape}")
        if len(audio) < SAMPLE_RATE // 10:
            return []
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return self._diarize(audio, windows if self._fits(windows, len(audio)) else None)
        finally:
            torch.set_num_threads(threads)

    def _fits(self, windows: Any, samples: int) -> bool:
        """``windows`` are what this diarizer's segmentation would compute on ``samples``."""
        if windows is None:
            return False
        step, window = round(self.step_s * SAMPLE_RATE), int(WINDOW_S * SAMPLE_RATE)
        full, padded = window_count(samples, window, step)
        classes = len(self._segmentation.specifications.classes)
        return (
            windows.sliding_window.duration == WINDOW_S
            and windows.sliding_window.step == self.step_s
            and windows.data.shape == (full + padded, windows.data.shape[1], classes)
        )

    def _diarize(self, audio: Samples, windows: Any = None) -> list[SpeakerTurn]:
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin
        from pyannote.core import SlidingWindowFeature

        # (chunks, frames, 3) activity scores, the audio read a block at a time
        segmentations = (
            windows
            if windows is not None
            else chunk_scores(self._inference, audio, block_s=self.block_s)
        )
        binarized = _binarize(segmentations, self.onset)
        count = SpeakerDiarizationMixin.speaker_count(
            binarized, self._segmentation.receptive_field, warm_up=(0.0, 0.0)
        )
        if np.nanmax(count.data) == 0:
            return []
        embeddings, clean_s = self._embeddings(audio, binarized.data)
        active = binarized.data.sum(axis=1) > 0  # (chunks, 3)
        centroids = self._cluster(embeddings, active, active & (clean_s >= self.min_clean_s))
        hard = _assign(embeddings, active, centroids)
        k = len(centroids)
        count.data = np.minimum(count.data, min(k, self.max_speakers)).astype(np.int8)
        chunks, frames, _ = segmentations.data.shape
        clustered = np.full((chunks, frames, k), np.nan, np.float32)  # the scores' own type
        for c in range(chunks):
            for j in np.unique(hard[c]):
                if j >= 0:
                    clustered[c, :, j] = segmentations.data[c][:, hard[c] == j].max(axis=1)
        discrete = SpeakerDiarizationMixin.to_diarization(
            SlidingWindowFeature(clustered, segmentations.sliding_window), count
        )
        return _turns(
            discrete, len(audio) / SAMPLE_RATE, self.min_duration_on, self.min_duration_off
        )

    def _embeddings(self, audio: Samples, binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One Resemblyzer embedding per (window, local speaker), and its clean speech in s.

        Inactive local speakers get a zero embedding.
        """
        import torch
        from resemblyzer.audio import normalize_volume

        chunks, frames, speakers = binary.shape
        window = int(WINDOW_S * SAMPLE_RATE)
        step = self.step_s * SAMPLE_RATE
        # frame f of a window covers samples [edges[f], edges[f + 1])
        edges = np.round(np.linspace(0, window, frames + 1)).astype(int)
        frame_of_sample = np.repeat(np.arange(frames), np.diff(edges))
        clean_s = np.zeros((chunks, speakers))
        embeddings = np.zeros((chunks, speakers, 256), np.float32)
        device = next(self._encoder.parameters()).device
        partials: list[np.ndarray] = []
        owner: list[tuple[int, int]] = []

        def flush() -> None:  # encode the partials gathered so far (memory stays bounded)
            if partials:
                batch = torch.from_numpy(np.stack(partials)).to(device)
                for (c, k), e in zip(owner, self._encoder(batch).cpu().numpy(), strict=True):
                    embeddings[c, k] += e
                partials.clear()
                owner.clear()

        for c in range(chunks):
            lo = int(round(c * step))
            piece = np.zeros(window, np.float32)
            got = audio[lo : lo + window]
            piece[: len(got)] = got
            alone = binary[c].sum(axis=1) < 2
            for k in range(speakers):
                mask = binary[c, :, k] > 0
                if not mask.any():
                    continue
                clean = mask & alone
                clean_s[c, k] = clean.sum() * WINDOW_S / frames
                use = clean if clean_s[c, k] >= self.min_clean_s / 2 else mask
                speech = piece[use[frame_of_sample]]
                for mel in self._partial_mels(
                    normalize_volume(speech, VOLUME_DBFS, increase_only=True)
                ):
                    partials.append(mel)
                    owner.append((c, k))
                if len(partials) >= 128:
                    flush()
        flush()
        norms = np.linalg.norm(embeddings, axis=2, keepdims=True)
        return np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 0), clean_s

    def _partial_mels(self, speech: np.ndarray) -> list[np.ndarray]:
        """Resemblyzer's 1.6 s partial mel spectrograms of ``speech`` (as embed_utterance cuts them)."""
        wav_slices, mel_slices = self._encoder.compute_partial_slices(
            len(speech), PARTIAL_RATE, 0.75
        )
        need = wav_slices[-1].stop
        if need > len(speech):
            speech = np.pad(speech, (0, need - len(speech)))
        import torch

        spec = torch.stft(
            torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32)),
            self._n_fft,
            self._hop,
            window=self._mel_window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        mel = (self._mel_basis @ spec.abs() ** 2).T.numpy()
        return [mel[s] for s in mel_slices if mel[s].shape[0] == self._partials_frames]

    def _cluster(
        self, embeddings: np.ndarray, active: np.ndarray, reliable: np.ndarray
    ) -> np.ndarray:
        """Centroids (unit vectors) of the global speakers."""
        from scipy.cluster.hierarchy import fcluster, linkage

        use = reliable if reliable.sum() >= 2 else active
        x = embeddings[use].astype(np.float64)
        every = 1.0
        if len(x) > MAX_CLUSTERED:  # average linkage is quadratic: an even subsample
            every = len(x) / MAX_CLUSTERED
            x = x[np.linspace(0, len(x) - 1, MAX_CLUSTERED).round().astype(int)]
        if len(x) < 2:
            return x[:1] if len(x) else embeddings[active][:1].astype(np.float64)
        tree = linkage(x, method="average", metric="cosine")
        if self.num_speakers is not None:
            labels = fcluster(tree, min(self.num_speakers, len(x)), criterion="maxclust")
        else:
            labels = fcluster(tree, self.threshold, criterion="distance")
            k = int(labels.max())
            wanted = int(np.clip(k, self.min_speakers, min(self.max_speakers, len(x))))
            if wanted != k:
                labels = fcluster(tree, wanted, criterion="maxclust")
            labels = self._merge_small(x, labels, every)
        centroids = np.stack([x[labels == j].mean(axis=0) for j in np.unique(labels)])
        return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)

    def _merge_small(self, x: np.ndarray, labels: np.ndarray, every: float) -> np.ndarray:
        """Fold clusters of fewer than ``min_cluster_s / step_s`` windows into the nearest large one.

        A handful of windows (a cough, a word under music, a voice at a window's edge) is not
        a speaker. Clusters are kept, largest first, while the count is below ``min_speakers``.
        ``every``: windows each row of ``x`` stands for (more than 1 when subsampled).
        """
        size = np.bincount(labels)
        ids = [j for j in np.argsort(-size, kind="stable") if size[j] > 0]
        enough = max(2, int(np.ceil(self.min_cluster_s / self.step_s / every)))
        keep = [j for j in ids if size[j] >= enough]
        keep += [j for j in ids if j not in keep][: max(0, self.min_speakers - len(keep))]
        if not keep:
            keep = ids[:1]
        if len(keep) == len(ids):
            return labels
        means = np.stack([x[labels == j].mean(axis=0) for j in keep])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        out = labels.copy()
        for i in np.flatnonzero(~np.isin(labels, keep)):
            out[i] = keep[int(np.argmax(means @ x[i]))]
        return out

    def close(self) -> None:
        self._segmentation = self._inference = self._encoder = None
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _binarize(segmentations: Any, onset: float, block: int = 1024) -> Any:
    """pyannote's ``binarize`` of window scores ``(chunks, frames, speakers)`` (each window's
    each speaker on its own, starting inactive), a block of windows at a time and kept as
    float32 0/1: pyannote's own returns float64 and makes copies of the whole array on the
    way, 3 to 4 times the scores' size on a long track."""
    from pyannote.audio.utils.signal import binarize
    from pyannote.core import SlidingWindowFeature

    data = segmentations.data
    out = np.empty(data.shape, np.float32)
    for c in range(0, data.shape[0], block):
        part = SlidingWindowFeature(data[c : c + block], segmentations.sliding_window)
        out[c : c + block] = binarize(part, onset=onset, initial_state=False).data
    return SlidingWindowFeature(out, segmentations.sliding_window)


def _turns(
    discrete: Any, end: float, min_duration_on: float, min_duration_off: float
) -> list[SpeakerTurn]:
    """Speaker turns from a frame-level diarization ``(frames, speakers)`` of 0/1: pauses
    under ``min_duration_off`` inside a speaker's turn filled, then turns under
    ``min_duration_on`` dropped (pyannote's ``to_annotation``), clipped to ``end`` seconds.

    Dropping the slivers matters on long recordings, where clustering can keep clusters
    beyond the voices (``bench/memory.py``'s dialogue stems repeat one dialogue; with it
    every minute for 24 minutes: 4 clusters of 984, 912, 288 and 144 windows for 2 voices).
    Such a cluster won one or two frames (16-34 ms) at some 20 hand-overs between the
    voices and was a third speaker of 0.4 s, there and on the 2 h stem.
    """
    from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin

    annotation = SpeakerDiarizationMixin.to_annotation(
        discrete, min_duration_on=min_duration_on, min_duration_off=min_duration_off
    )
    raw = [
        (float(seg.start), min(float(seg.end), end), int(label))
        for seg, _track, label in annotation.itertracks(yield_label=True)
    ]
    raw = [r for r in raw if r[1] > r[0]]
    # SPEAKER_00 is whoever speaks first, so labels do not depend on cluster order.
    order: dict[int, int] = {}
    for _start, _end, label in sorted(raw):
        order.setdefault(label, len(order))
    return [
        SpeakerTurn(round(s, 3), round(e, 3), f"SPEAKER_{order[label]:02d}")
        for s, e, label in sorted(raw)
    ]


def _assign(embeddings: np.ndarray, active: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Global speaker of each (window, local speaker); -2 where inactive.

    Within a window the local speakers take distinct global speakers (the assignment with
    the highest total similarity), as long as there are enough of them.
    """
    from scipy.optimize import linear_sum_assignment

    hard = np.full(active.shape, -2, dtype=int)
    for c in range(active.shape[0]):
        ks = np.flatnonzero(active[c])
        if ks.size == 0:
            continue
        similarity = embeddings[c, ks] @ centroids.T
        if ks.size <= len(centroids):
            rows, cols = linear_sum_assignment(-similarity)
            hard[c, ks[rows]] = cols
        else:
            hard[c, ks] = similarity.argmax(axis=1)
    return hard
