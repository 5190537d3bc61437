import io

import pytest

from video_assets.progress import (
    Progress,
    ProgressLine,
    format_duration,
    format_rate,
    terminal_progress,
    terminal_sink,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def tick(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_line_shows_count_rate_and_time_left(clock):
    lines: list[str] = []
    p = Progress(15000, "frames", "scenes", sink=lines.append, min_interval_s=5.0, clock=clock)
    clock.tick(5.0)
    assert p.update(4500)
    assert lines == ["scenes: 4500/15000 frames (30%), 900 frames/s, 11.7 s left"]
    assert p.rate == pytest.approx(900.0)
    assert p.eta_s == pytest.approx(10500 / 900)


def test_throttled_by_time_and_final_line_always_once(clock):
    lines: list[str] = []
    p = Progress(15000, "frames", "scenes", sink=lines.append, min_interval_s=5.0, clock=clock)
    for done in range(250, 15001, 250):  # 60 updates, 0.3 s apart: 18 s in all
        clock.tick(0.3)
        p(done, 15000)
    # One line per 5 s (at 5.1, 10.2, 15.3 s), then the final one.
    assert len(lines) == 4
    assert lines[-1] == "scenes: 15000/15000 frames (100%), 833 frames/s, done in 18.0 s"
    assert all(isinstance(line, ProgressLine) for line in lines)
    assert lines[-1].final and not lines[0].final
    p(15000, 15000)
    p.finish()
    assert len(lines) == 4


def test_zero_interval_emits_every_update(clock):
    lines: list[str] = []
    p = Progress(3, "clips", sink=lines.append, min_interval_s=0, clock=clock)
    for _i in range(1, 4):
        clock.tick(1.0)
        p.advance()
    assert lines == [
        "1/3 clips (33%), 1.0 clips/s, 2.0 s left",
        "2/3 clips (66%), 1.0 clips/s, 1.0 s left",
        "3/3 clips (100%), 1.0 clips/s, done in 3.0 s",
    ]


def test_unknown_total_then_learned_from_the_callback(clock):
    lines: list[str] = []
    p = Progress(unit="frames", label="scenes", sink=lines.append, min_interval_s=0, clock=clock)
    clock.tick(2.0)
    p.update(100)
    assert lines[-1] == "scenes: 100 frames, 50.0 frames/s"
    assert p.line().fraction is None
    clock.tick(2.0)
    p(200, 400)
    assert lines[-1] == "scenes: 200/400 frames (50%), 50.0 frames/s, 4.0 s left"
    assert lines[-1].fraction == 0.5


def test_note_and_slow_rates(clock):
    lines: list[str] = []
    p = Progress(100, "steps", "tokenizer", sink=lines.append, min_interval_s=0, clock=clock)
    clock.tick(40.0)
    p.update(10, note="loss 0.0123")
    assert lines[-1] == "tokenizer: 10/100 steps (10%), 0.25 steps/s, 6 min 00 s left, loss 0.0123"


def test_context_manager_finishes_on_success_only(clock):
    lines: list[str] = []
    with Progress(None, "items", sink=lines.append, clock=clock) as p:
        clock.tick(1.0)
        p.update(7)
    assert lines == ["7 items, 7.0 items/s, done in 1.0 s"]
    lines.clear()
    with pytest.raises(RuntimeError), Progress(10, sink=lines.append, clock=clock) as p:
        p.update(3)
        raise RuntimeError("boom")
    assert lines == []


def test_an_error_closes_a_started_line(clock):
    out = io.StringIO()
    with (
        pytest.raises(RuntimeError),
        Progress(
            10,
            "frames",
            "scenes",
            sink=terminal_sink(out, width=10, tty=True),
            min_interval_s=0,
            clock=clock,
        ) as p,
    ):
        clock.tick(1.0)
        p.update(4)
        raise RuntimeError("boom")
    assert out.getvalue().endswith(
        "\r[####......] scenes: 4/10 frames (40%), 4.0 frames/s, stopped after 1.0 s\x1b[K\n"
    )
    assert p.finished and not p.update(10)


def test_quiet_terminal_progress_shows_nothing():
    out = io.StringIO()
    p = terminal_progress("scenes", stream=out, tty=True, enabled=False)
    p.update(5, 5)
    assert out.getvalue() == "" and p.finished


def test_restart_counts_a_second_pass(clock):
    lines: list[str] = []
    p = Progress(10, sink=lines.append, min_interval_s=0, clock=clock)
    clock.tick(1.0)
    p.update(10)
    p.restart(20)
    clock.tick(2.0)
    p.update(20)
    assert lines[-1] == "20/20 items (100%), 10.0 items/s, done in 2.0 s"


def test_no_sink_still_counts(clock):
    p = Progress(10, clock=clock)
    clock.tick(1.0)
    p.update(5)
    assert p.done == 5 and p.lines_emitted == 0
    p.update(10)
    assert p.finished and p.lines_emitted == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"total": -1}, id="negative-total"),
        pytest.param({"unit": ""}, id="empty-unit"),
        pytest.param({"min_interval_s": -1.0}, id="negative-interval"),
        pytest.param({"min_interval_s": 7200.0}, id="interval-too-long"),
    ],
)
def test_bad_settings(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Progress(**kwargs)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.0, "0.0 s", id="zero"),
        pytest.param(12.94, "12.9 s", id="seconds"),
        pytest.param(59.97, "1 min 00 s", id="round-up"),
        pytest.param(245.0, "4 min 05 s", id="minutes"),
        pytest.param(7380.0, "2 h 03 min", id="hours"),
        pytest.param(float("nan"), "?", id="unknown"),
        pytest.param(float("inf"), "?", id="infinite"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_rate():
    assert format_rate(812.4, "frames") == "812 frames/s"
    assert format_rate(3.44, "steps") == "3.4 steps/s"
    assert format_rate(float("nan"), "clips") == "? clips/s"


def test_terminal_sink_plain_lines_when_not_a_tty(clock):
    out = io.StringIO()
    p = Progress(
        4, "frames", "scenes", sink=terminal_sink(out, tty=False), min_interval_s=0, clock=clock
    )
    clock.tick(1.0)
    p.update(2)
    p.update(4)
    assert out.getvalue() == (
        "scenes: 2/4 frames (50%), 2.0 frames/s, 1.0 s left\n"
        "scenes: 4/4 frames (100%), 4.0 frames/s, done in 1.0 s\n"
    )


def test_terminal_sink_draws_a_bar_on_a_tty(clock):
    out = io.StringIO()
    p = Progress(
        4,
        "frames",
        "scenes",
        sink=terminal_sink(out, width=10, tty=True),
        min_interval_s=0,
        clock=clock,
    )
    clock.tick(1.0)
    p.update(2)
    assert (
        out.getvalue() == "\r[#####.....] scenes: 2/4 frames (50%), 2.0 frames/s, 1.0 s left\x1b[K"
    )
    p.update(4)
    assert out.getvalue().endswith(
        "\r[##########] scenes: 4/4 frames (100%), 4.0 frames/s, done in 1.0 s\x1b[K\n"
    )
    # A plain message after an open bar starts on a fresh line.
    out2 = io.StringIO()
    sink = terminal_sink(out2, width=10, tty=True)
    sink(ProgressLine("a", label="", done=1, total=2, final=False))
    sink("note")
    assert out2.getvalue().endswith("\nnote\n")


def test_terminal_sink_width_range():
    with pytest.raises(ValueError, match="width"):
        terminal_sink(width=2)


def test_terminal_progress_throttles_per_medium():
    assert terminal_progress(
        "scenes", stream=io.StringIO(), tty=True
    ).min_interval_s == pytest.approx(0.1)
    plain = terminal_progress("scenes", stream=io.StringIO())
    assert plain.min_interval_s == pytest.approx(5.0) and plain.unit == "frames"


def test_is_the_scene_detector_callback(tmp_path):
    from video_assets.generate.synth import make_shots_video
    from video_assets.scenes import detect_scenes

    video = make_shots_video(tmp_path / "v.mp4", [40, 35], size=(160, 90), audio="none")
    lines: list[str] = []
    with Progress(unit="frames", label="scenes", sink=lines.append, min_interval_s=60) as progress:
        detect_scenes(str(video.path), mode="full", progress=progress)
    assert len(lines) == 1 and lines[0].startswith("scenes: 75/75 frames (100%)")
