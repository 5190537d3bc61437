"""The VAD and the diarizer's segmentation slid over a long track a block at a time give the
numbers pyannote's Inference gives on the whole waveform at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.audio_support import speech_track
from video_assets.audio.sliding import chunk_scores, frame_scores

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About 47 s: the sentences twice over, in light noise."""
    one = speech_track().as_float(16000)
    audio = np.concatenate([one, one])
    noise = np.random.default_rng(0).normal(0.0, 0.01, audio.size)
    return (audio + noise).astype(np.float32)


@pytest.fixture(scope="module")
def vad():
    from whisperx.vads import Pyannote

    return Pyannote(torch.device("cpu"), token=None, vad_onset=0.5, vad_offset=0.363)


@pytest.fixture(scope="module")
def whole(speech, vad):
    return vad({"waveform": torch.from_numpy(speech)[None], "sample_rate": 16000})


@pytest.mark.parametrize("block_s", [1.0, 37.0, 600.0])
def test_vad_scores_by_blocks_equal_the_whole_track_at_once(speech, vad, whole, block_s):
    blocks = frame_scores(vad.vad_pipeline._segmentation, speech, block_s=block_s)
    assert blocks.data.shape == whole.data.shape
    assert np.array_equal(blocks.data, whole.data)
    assert blocks.sliding_window.step == whole.sliding_window.step
    assert blocks.sliding_window.start == whole.sliding_window.start


@pytest.mark.parametrize("seconds", [0.01, 4.9, 5.0, 5.5, 5.2, 21.0])
def test_short_tracks_and_a_padded_last_window_match_too(speech, vad, seconds):
    """Shorter than a window, exactly one, and ends between two window starts."""
    piece = speech[: int(seconds * 16000)]
    whole = vad({"waveform": torch.from_numpy(piece)[None], "sample_rate": 16000})
    blocks = frame_scores(vad.vad_pipeline._segmentation, piece, block_s=1.0)
    assert np.array_equal(blocks.data, whole.data)


def test_raw_window_scores_of_the_diarizer_segmentation_match(speech):
    from pyannote.audio import Inference, Model

    from video_assets.audio.diarizers.resemblyzer import WINDOW_S, segmentation_checkpoint

    model = Model.from_pretrained(str(segmentation_checkpoint()))
    inference = Inference(model, duration=WINDOW_S, step=0.5, skip_aggregation=True, batch_size=32)
    whole = inference({"waveform": torch.from_numpy(speech)[None], "sample_rate": 16000})
    blocks = chunk_scores(inference, speech, block_s=20.0)
    assert blocks.data.shape == whole.data.shape and blocks.data.shape[2] == 3
    assert np.array_equal(blocks.data, whole.data)


def test_the_audio_is_read_a_block_at_a_time(speech, vad):
    class Reads:
        def __init__(self, audio: np.ndarray):
            self.audio, self.sizes = audio, []

        def __len__(self) -> int:
            return len(self.audio)

        def __getitem__(self, key: slice) -> np.ndarray:
            out = self.audio[key]
            self.sizes.append(len(out))
            return out

    reads = Reads(speech)
    frame_scores(vad.vad_pipeline._segmentation, reads, block_s=20.0)
    # 32 windows (one batch) of 5 s every 0.5 s: 20.5 s a read, then the padded last window
    assert max(reads.sizes) == int(20.5 * 16000)
    assert sum(reads.sizes) < 1.3 * len(speech)
    with pytest.raises(ValueError, match="block_s"):
        frame_scores(vad.vad_pipeline._segmentation, reads, block_s=0.0)
