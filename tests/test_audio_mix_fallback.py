"""The transcript of a separated stem, with each VAD chunk's decode checked against the mix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.audio_support import SENTENCES, workdir
from video_assets import cli
from video_assets.audio.asr import (
    BOTH_INPUTS,
    FALLBACK_INPUT,
    PRIMARY_INPUT,
    ChunkDecode,
    merge_texts,
    pick_decodes,
)
from video_assets.audio.metrics import norm_words
from video_assets.audio.separation import separate_vocals
from video_assets.audio.separators.spleeter import SpleeterSeparator
from video_assets.audio.transcription import TranscriptionSettings, transcribe
from video_assets.generate.speech import make_speech_video

torch.set_num_threads(1)

LOOP = "the the the the the the the the the the the the the the the the the the the the"


def stem(text: str, logprob: float, start: float = 0.0) -> ChunkDecode:
    return ChunkDecode(start, start + 5.0, text, logprob)


class FakeMix:
    """Decodes spans of the mix from a table of (text, log-probability) by span start."""

    def __init__(self, decodes: dict[float, tuple[str, float]]):
        self.decodes = decodes
        self.asked: list[tuple[float, float]] = []

    def __call__(self, spans: list[tuple[float, float]]) -> list[ChunkDecode]:
        self.asked += spans
        return [ChunkDecode(s, e, *self.decodes[s], FALLBACK_INPUT) for s, e in spans]


@pytest.mark.parametrize(
    "mine, other, kept, kept_input",
    [
        pytest.param(
            ("fresh thread", -0.17), ("fresh bread", -0.15), "fresh bread", FALLBACK_INPUT,
            id="the-mix-is-more-probable",
        ),
        pytest.param(
            ("fresh bread", -0.12), ("fresh red", -0.16), "fresh bread", PRIMARY_INPUT,
            id="the-stem-is-more-probable",
        ),
        pytest.param(
            ("fresh bread", -0.9), (LOOP, -0.1), "fresh bread", PRIMARY_INPUT,
            id="a-looping-mix-decode-is-never-taken",
        ),
    ],
)  # fmt: skip
def test_each_chunk_keeps_the_more_probable_decode(mine, other, kept, kept_input):
    chosen = pick_decodes([stem(*mine)], FakeMix({0.0: other}), 0.0)
    assert (chosen[0].text, chosen[0].input) == (kept, kept_input)
    assert chosen[0].other_logprob == (mine[1] if kept_input == FALLBACK_INPUT else other[1])
    assert (chosen[0].start, chosen[0].end) == (0.0, 5.0)  # the stem's chunk


def test_only_doubtful_chunks_are_decoded_again_below_zero():
    decodes = [stem("sure", -0.1, 0.0), stem("unsure", -1.2, 5.0), stem(LOOP, -0.05, 10.0)]
    mix = FakeMix({5.0: ("clearer", -0.4), 10.0: ("a b c", -0.3)})
    chosen = pick_decodes(decodes, mix, -0.5)
    assert mix.asked == [(5.0, 10.0), (10.0, 15.0)]
    assert [d.text for d in chosen] == ["sure", "clearer", "a b c"]  # a loop loses
    assert chosen[0].other_logprob is None


TRUTH = {"fresh", "bread", "and", "warm", "soup"}


def truth_score(text: str) -> float:
    """A fake log-probability: minus the words that were not said."""
    return -float(sum(w.lower().strip(".,") not in TRUTH for w in text.split()))


def test_a_merge_takes_each_differing_stretch_only_where_it_scores_better():
    text, base, taken = merge_texts(
        "Fresh thread and warm soup.", "fresh bread and warm soup were", truth_score
    )
    assert (text, base, taken) == ("Fresh bread and warm soup.", 0, 1)
    text, base, taken = merge_texts(
        "fresh thread and soup", "Fresh bread and warm soup.", truth_score
    )
    assert (text, base, taken) == ("Fresh bread and warm soup.", 1, 0)


def test_chunks_merged_from_both_inputs_say_so():
    decodes = [stem("Fresh thread and warm soup.", -0.2), stem("fresh bread", -0.1, 5.0)]
    mix = FakeMix({0.0: ("fresh bread and warm soup were", -0.3), 5.0: ("fresh red", -0.2)})
    chosen = pick_decodes(decodes, mix, 0.0, lambda span, text: truth_score(text))
    assert [(d.text, d.input) for d in chosen] == [
        ("Fresh bread and warm soup.", BOTH_INPUTS),
        ("fresh bread", PRIMARY_INPUT),
    ]
    assert [d.other_logprob for d in chosen] == [-0.3, -0.2]


def test_the_setting_is_validated():
    with pytest.raises(ValueError, match="mix_min_logprob"):
        TranscriptionSettings(mix_min_logprob=0.5)


@pytest.fixture(scope="module")
def stem_and_mix(tmp_path_factory) -> tuple[Path, Path]:
    """Speech 0 dB over the music bed, Spleeter's vocal stem of it, and the video as the mix."""
    video = make_speech_video(
        workdir("mix_fallback") / "speech_music.mp4", SENTENCES[:2], music_db=0.0, seed=1
    )
    with SpleeterSeparator() as spleeter:
        sep = separate_vocals(video.path, tmp_path_factory.mktemp("stems"), separator=spleeter)
    assert sep.vocals_16k_path is not None
    return Path(sep.vocals_16k_path), video.path


def test_a_stem_is_transcribed_beside_its_mix_and_each_segment_says_which(stem_and_mix):
    """End to end: Spleeter's stem, the video as the mix."""
    stem_path, video_path = stem_and_mix
    result = transcribe(
        stem_path, TranscriptionSettings(language="en", threads=1), mix_path=video_path
    )
    assert result.segments and {s.text_input for s in result.segments} <= {
        "stem",
        "mix",
        "stem+mix",
    }
    assert sum(result.chunks_by_input.values()) >= 1
    meta = result.metadata()
    assert sum(v for k, v in meta.items() if k.startswith("chunks_from_")) == sum(
        result.chunks_by_input.values()
    )
    assert all("text_input" in s for s in result.to_json_dict()["segments"])
    assert len([w for s in result.segments for w in norm_words(s.text)]) >= 15


def test_cli_transcribe_with_the_mix(stem_and_mix, capsys):
    """``video-assets transcribe STEM --mix VIDEO``: the segments say which input gave them,
    as the asset's do; without ``--mix`` none names an input (only the stem was heard)."""
    stem_path, video_path = stem_and_mix
    common = [str(stem_path), "--language", "en", "--json", "--quiet"]
    assert cli.main(["transcribe", *common, "--mix", str(video_path)]) == 0
    with_mix = json.loads(capsys.readouterr().out)
    assert with_mix["segments"]
    assert {s["text_input"] for s in with_mix["segments"]} <= {"stem", "mix", "stem+mix"}
    assert sum(v for k, v in with_mix.items() if k.startswith("chunks_from_")) >= 1
    assert cli.main(["transcribe", *common]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert {s["text_input"] for s in alone["segments"]} == {None}
    assert not any(k.startswith("chunks_from_") and v for k, v in alone.items())
