"""Fault injection: every file of the bad-input corpus through the CLI and ingest registration.

Builds the corpus of ``video_assets/generate/bad_media.py`` (empty, random, truncated and corrupt files,
audio-only, video-only, variable frame rate, rotated, 10-bit, odd sizes, 0.5 s, several
audio streams, awkward names), runs ``keyframes``, ``scenes`` and ``split`` on each file as
``python -m video_assets.cli``, registers each one as the landing sensor would, scans a
landing folder holding the corpus and its traps (symlinks out of the folder, a symlink
loop, the same bytes under two names), and splits once more with an ffmpeg that is killed
mid-write. Every row says what was expected, what happened, whether the source is
unchanged, how many pre-existing files were lost (the source, and a file left in the
``split --out`` folder beforehand; must be 0), and what a failed split left behind.

Results go to ``bench/out/faults.json``; a table is printed.

    uv run --frozen python bench/faults.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dagster_project.defs.resources import StoreResource  # noqa: E402
from dagster_project.defs.sensors import scan_landing  # noqa: E402
from video_assets.errors import VideoAssetsError  # noqa: E402
from video_assets.generate.bad_media import (  # noqa: E402
    CASE_BY_ID,
    CASES,
    COMMANDS,
    build_corpus,
    ffmpeg_killed_mid_write,
    fresh_dir,
    judge,
    run_cli,
    sha256,
    summary,
)
from video_assets.registry import landing_candidates, register  # noqa: E402
from video_assets.store import DataRoot  # noqa: E402

OUT = ROOT / "bench" / "out"


@dataclass
class Row:
    input: str
    stage: str
    expected: str
    outcome: str
    as_expected: bool
    source_unchanged: bool
    data_lost: int
    left_behind: list[str]
    elapsed_s: float
    problems: list[str]


def cli_rows(corpus: dict[str, Path], work: Path) -> list[Row]:
    rows = []
    for case in CASES:
        for command in COMMANDS:
            run = run_cli(command, corpus[case.case], fresh_dir(work / f"{case.case}-{command}"))
            problems = judge(case, run)
            expected = case.outcome + (f" ({case.problem})" if case.problem else "")
            rows.append(
                Row(
                    case.case,
                    command,
                    expected,
                    summary(run),
                    not problems,
                    run.source_unchanged,
                    run.data_lost(),
                    run.left_in_out() if run.returncode else [],
                    run.elapsed_s,
                    problems,
                )
            )
    return rows


def killed_row(corpus: dict[str, Path], work: Path) -> Row:
    case = CASE_BY_ID["video-only"]
    env = ffmpeg_killed_mid_write(work / "shim")
    run = run_cli("split", corpus[case.case], fresh_dir(work / "killed"), env=env)
    left = run.left_in_out()
    problems = (
        []
        if run.returncode == 2 and not left and not run.data_lost()
        else [f"exit {run.returncode}, left {left} in the out folder"]
    )
    return Row(
        f"{case.case} (ffmpeg SIGKILLed mid-write)",
        "split",
        "error, out folder as before",
        summary(run).split("\n")[0],
        not problems,
        run.source_unchanged,
        run.data_lost(),
        left,
        run.elapsed_s,
        problems,
    )


def register_rows(corpus: dict[str, Path], work: Path) -> list[Row]:
    root = DataRoot(fresh_dir(work / "registry data"))
    rows = []
    for case in CASES:
        path = corpus[case.case]
        before = sha256(path)
        t0 = time.perf_counter()
        refusal = case.registration
        expected = f"error ({refusal})" if refusal else "registered"
        try:
            reg = register(root, path)
            outcome = f"registered {reg.video_id}"
            ok = not refusal and reg.sha256 == before
        except (OSError, VideoAssetsError) as exc:
            outcome = f"{type(exc).__name__}: {exc}".replace(str(path), path.name)
            ok = bool(refusal) and refusal in str(exc)
        unchanged = sha256(path) == before
        rows.append(
            Row(
                case.case,
                "register",
                expected,
                outcome,
                ok and unchanged,
                unchanged,
                0 if unchanged else 1,
                [],
                time.perf_counter() - t0,
                [] if ok else [outcome],
            )
        )
    return rows


def landing_rows(corpus: dict[str, Path], work: Path) -> list[Row]:
    """One landing folder with the corpus, its traps, and one scan."""
    landing = fresh_dir(work / "landing")
    outside = fresh_dir(work / "outside")
    for case in CASES:
        (landing / corpus[case.case].name).write_bytes(corpus[case.case].read_bytes())
    (landing / "copy of video-only.mp4").write_bytes(corpus["video-only"].read_bytes())
    secret = outside / "secret.mp4"
    secret.write_bytes(corpus["rotated"].read_bytes() + b"outside")
    traps = {
        "symlink-out": (landing / "link out.mp4", secret, "skipped"),
        "symlink-dir-out": (landing / "linked dir", outside, "skipped"),
        "dangling-symlink": (landing / "dangling.mp4", outside / "gone.mp4", "skipped"),
        "symlink-in": (landing / "link in.mp4", landing / "video-only.mp4", "found"),
    }
    for link, target, _ in traps.values():
        link.symlink_to(target)
    before = {p: sha256(p) for p in landing.iterdir() if p.is_file() and not p.is_symlink()}
    store = StoreResource(
        data_root=str(work / "landing data"), landing_dir=str(landing), settle_s=0.0
    )
    rows = []
    t0 = time.perf_counter()
    found = landing_candidates(landing)
    ids, _, problems = scan_landing(store, None)
    elapsed = time.perf_counter() - t0
    unchanged = all(sha256(p) == h for p, h in before.items())
    for name, (link, _, expected) in traps.items():
        got = "found" if link in found else "skipped"
        rows.append(
            Row(name, "landing", expected, got, got == expected, unchanged, 0, [], elapsed, [])
        )
    dotted = [corpus[c].name for c in ("name-dots", "name-backslash")]
    got = "found" if any(landing / n in found for n in dotted) else "skipped"
    rows.append(
        Row(
            " and ".join(dotted),
            "landing",
            "skipped (hidden: a leading dot)",
            got,
            got == "skipped",
            unchanged,
            0,
            [],
            elapsed,
            [],
        )
    )
    refused = {c.name for c in CASES if c.registration}
    distinct = {sha256(p) for p in before if p.name not in refused and not p.name.startswith(".")}
    rows.append(
        Row(
            "same bytes, 2 names (+ 7 names of one file)",
            "scan_landing",
            f"{len(distinct)} ids, {len(refused)} problems ({', '.join(sorted(refused))})",
            f"{len(ids)} ids, {len(problems)} problems",
            len(ids) == len(distinct) and len(problems) == len(refused),
            unchanged,
            0,
            [],
            elapsed,
            problems,
        )
    )
    loop = fresh_dir(work / "loop landing")
    (loop / "loop.mp4").symlink_to("loop.mp4")
    t0 = time.perf_counter()
    try:
        got = f"{len(landing_candidates(loop))} candidates"
    except Exception as exc:  # noqa: BLE001 - the row reports whatever escapes
        got = f"{type(exc).__name__}: {exc}".replace(str(loop), "LANDING")
    rows.append(
        Row(
            "symlink-loop",
            "landing",
            "skipped (0 candidates)",
            got,
            got == "0 candidates",
            True,
            0,
            [],
            time.perf_counter() - t0,
            [],
        )
    )
    return rows


def print_table(rows: list[Row]) -> None:
    head = ("input", "stage", "expected", "outcome", "ok", "src same", "lost", "left", "s")
    table = [head] + [
        (
            r.input,
            r.stage,
            r.expected,
            r.outcome[:130],
            "yes" if r.as_expected else "NO",
            "yes" if r.source_unchanged else "NO",
            str(r.data_lost),
            str(len(r.left_behind)),
            f"{r.elapsed_s:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for k, row in enumerate(table):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT / "faults.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="va-faults-") as tmp:
        work = Path(tmp)
        corpus = build_corpus(work / "corpus")
        build_s = time.perf_counter() - t0
        rows = cli_rows(corpus, work / "cli")
        rows.append(killed_row(corpus, work))
        rows += register_rows(corpus, work)
        rows += landing_rows(corpus, work)
    print_table(rows)
    bad = [r for r in rows if not r.as_expected]
    lost = sum(r.data_lost for r in rows)
    print(
        f"\n{len(rows)} rows, {len(rows) - len(bad)} as expected, {len(bad)} not; data lost: {lost}; "
        f"corpus built in {build_s:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )
    for r in bad:
        print(f"  NOT AS EXPECTED {r.input} / {r.stage}: {'; '.join(r.problems) or r.outcome}")
    ffmpeg_version = subprocess.run(
        ["ffmpeg", "-version"], capture_output=True, text=True
    ).stdout.split("\n")[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "rows": [asdict(r) for r in rows],
                "cases": {c.case: c.note for c in CASES},
                "as_expected": len(rows) - len(bad),
                "not_as_expected": len(bad),
                "data_lost": lost,
                "environment": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "ffmpeg": ffmpeg_version,
                    "cpus": os.cpu_count(),
                    "load_avg": os.getloadavg(),
                },
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
