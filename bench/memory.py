"""Peak memory per stage on long inputs: does any stage grow with the video's duration?

Generates a film per duration (:func:`make_film`: 96x54 at 25 fps, H.264 with a keyframe
every 10 s and a hue jump every 15 s between them, so scenes have cuts the detector must
find; a stereo 44.1 kHz AAC soundtrack of two voices talking for 25 s every 5 minutes over
a music bed) and runs each stage on it as the CLI does, one process per stage:
``keyframes``, ``scenes`` (cascade), ``split`` (stream copy), ``separate`` (Spleeter,
offline), ``separate-passthrough`` (the separation stage with the model left out:
decoding, blocks, resampling, writing) and ``transcribe`` (Whisper, VAD, alignment and
diarization, as ``aligned_transcripts`` runs them). While a stage runs, the resident
memory of its whole process tree (the Python process and the ffmpeg it starts) is sampled
every 0.1 s from ``/proc``; the table shows that peak and the wall time, per stage and
duration. ``--job`` runs the main job (``scripts/sample.sh FILM``: every asset, in one
process) on each film instead, and gives the peak of each of its steps.

Results go to ``bench/out/memory.json``; a Markdown table is printed. ``--films DIR``
keeps the generated films there and reuses them on the next run.

    nice -n 15 uv run --frozen python bench/memory.py --minutes 10 60 120 --films FILMS
    uv run --frozen python bench/memory.py --job --minutes 10 60 --films FILMS
    nice -n 15 uv run --frozen python bench/memory.py --minutes 2 10 --stages keyframes scenes split
    uv run --frozen python bench/memory.py --peak transcribe --mix MIX --language en STEM
    uv run --frozen python bench/memory.py --stem 60 STEM.wav   # quiet, a dialogue every 5 min
    uv run --frozen python bench/memory.py --stdout OUT.json --peak transcribe --diarize \
        --language en --json STEM.wav
    uv run --frozen python bench/memory.py --film 60 FILM.mp4   # that dialogue over music
    uv run --frozen python bench/memory.py --peak separate --separator spleeter --out DIR \
        --json FILM.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
STAGES = {
    "keyframes": ["keyframes"],
    "scenes": ["scenes", "--mode", "cascade"],
    "split": ["split", "--mode", "copy", "--out", "{out}"],
    "separate": ["separate", "--separator", "spleeter", "--out", "{out}"],
    # The stage without the model: decoding, blocks, resampling, the three WAV writers.
    "separate-passthrough": ["separate", "--separator", "passthrough", "--out", "{out}"],
    "transcribe": ["transcribe", "--diarize", "--language", "en"],
}
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_film(path: Path, minutes: float) -> Path:
    """The long input: :func:`write_dialogue_stem`'s dialogue (two voices for 25 s every
    5 minutes, quiet noise between) over a music bed (a three-note chord with a 2 Hz
    tremolo, 12 dB under the voices), stereo 44.1 kHz AAC, behind a 96x54 picture at 25 fps
    whose hue jumps every 15 s, with a keyframe every 10 s (no keyframe at the jumps).
    Drawing the picture from ``color`` rather than ``testsrc2`` makes two hours of it in
    about four minutes rather than an hour."""
    from video_assets.generate.speech import write_dialogue_stem

    seconds = int(minutes * 60)
    with tempfile.TemporaryDirectory(prefix="film-") as tmp:
        stem = Path(tmp) / "stem.wav"
        write_dialogue_stem(stem, minutes)
        chord = "+".join(f"0.025*sin(2*PI*{f}*t)" for f in (196, 247, 294))
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"color=c=0x4080c0:s=96x54:r=25:d={seconds}",
             "-i", str(stem),
             "-f", "lavfi", "-i", f"aevalsrc='({chord})*(0.75+0.25*sin(2*PI*2*t))':s=44100:d={seconds}",
             "-filter_complex",
             "[0:v]hue=h='51*floor(t/15)':b='3*mod(floor(t/15),3)-3'[v];"
             "[1:a]aresample=44100[s];[s][2:a]amix=inputs=2:normalize=0,"
             "aformat=channel_layouts=stereo[a]",
             "-map", "[v]", "-map", "[a]",
             "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-keyint_min", "250",
             "-x264-params", "scenecut=0", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", str(path)],
            check=True,
            timeout=seconds + 600,
        )  # fmt: skip
    return path


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant, read from /proc.

    A child between its fork and its exec (still running the parent's command line) is left
    out: its pages are the parent's (shared, or the parent's own address space after
    ``vfork``), and counting them doubled the peak of any step that starts ffmpeg from a
    big process (a 1 GB Python process running ``true`` 300 times read as 2 GB). A worker
    forked to run on without an exec would be left out too; no command measured here has
    one (Dagster's multiprocess executor starts new interpreters)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(fields[1]), []).append(p)
        rss[p] = int(fields[21]) * PAGE
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        line = _cmdline(p)
        for child in children.get(p, []):
            if line is not None and _cmdline(child) == line:
                continue  # forked, not yet exec'd: the parent's pages
            todo.append(child)
    return total


def peak_rss(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    stdout: Path | None = None,
    phases_on: str = "stderr",
) -> dict:
    """Run ``cmd``; its exit status, the peak resident memory of its process tree (sampled
    every 0.1 s), its wall time, and the peak in each phase: between two lines the command
    writes on ``phases_on`` (``stderr``: a CLI's progress lines; ``stdout``: the main job's
    line per asset), named by the line that opened it (``from``) and the one that closed it
    (``to``). ``stdout``: where its output goes, both streams in ``stdout`` mode (None:
    discarded)."""
    import threading

    t0 = time.perf_counter()
    lines: list[tuple[float, str]] = [(0.0, "start")]
    samples: list[tuple[float, int]] = []
    with open(stdout or os.devnull, "wb") as out:
        if phases_on == "stderr":
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd)
            stream = proc.stderr
        else:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=out, env=env, cwd=cwd)
            stream = proc.stdout
        assert stream is not None

        def read_lines() -> None:
            for raw in stream:
                lines.append((time.perf_counter() - t0, raw.decode(errors="replace").rstrip()))
                if phases_on == "stdout":
                    out.write(raw)
                    out.flush()

        reader = threading.Thread(target=read_lines, daemon=True)
        reader.start()
        while proc.poll() is None:
            samples.append((time.perf_counter() - t0, _tree_rss(proc.pid)))
            time.sleep(0.1)
        reader.join()
    starts = [t for t, _ in lines] + [float("inf")]
    phases = []
    for i, (t, line) in enumerate(lines):
        inside = [rss for at, rss in samples if t <= at < starts[i + 1]]
        if inside:
            phases.append(
                {
                    "from": line[:120],
                    "to": lines[i + 1][1][:120] if i + 1 < len(lines) else "exit",
                    "at_s": round(t, 1),
                    "peak_rss_mb": round(max(inside) / 2**20, 1),
                }
            )
    return {
        "returncode": proc.returncode,
        "peak_rss_mb": round(max((rss for _, rss in samples), default=0) / 2**20, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "phases": phases,
        "stderr_tail": "\n".join(line for _, line in lines[-8:]) if proc.returncode else "",
    }


def run_stage(stage: str, video: Path, work: Path, env: dict[str, str]) -> dict:
    out = work / f"{stage}-out"
    if out.exists():
        shutil.rmtree(out)
    args = [a.replace("{out}", str(out)) for a in STAGES[stage]]
    cmd = [sys.executable, "-m", "video_assets.cli", *args, "--json", "--quiet", str(video)]
    row = {"stage": stage, **peak_rss(cmd, env, work)}
    if out.exists():
        shutil.rmtree(out)
    return row


def run_job(video: Path, work: Path, env: dict[str, str]) -> dict:
    """The main job (``scripts/sample.sh VIDEO``: every asset of the video, in one process,
    the first run training the tokenizer) in a fresh data root and Dagster home; the peak
    of each step is the peak between the asset line before it and its own."""
    root = work / f"job-{video.stem}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = {
        **env,
        "VIDEO_ASSETS_DATA_ROOT": str(root / "data"),
        "VIDEO_ASSETS_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "home"),
    }
    cmd = [sys.executable, "-m", "dagster_project.main", str(video)]
    row = peak_rss(cmd, env, ROOT, root / "job.log", phases_on="stdout")
    import warnings

    with warnings.catch_warnings():  # Dagster's notices about its preview APIs
        warnings.simplefilter("ignore")
        from dagster_project.definitions import ASSETS

    assets = {key.to_user_string() for a in ASSETS for key in a.keys}
    row["steps"] = {
        name: p["peak_rss_mb"]
        for p in row["phases"]
        if (name := (p["to"].split() or [""])[0]) in assets
    }
    if row["returncode"] == 0:
        shutil.rmtree(root)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 120])
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--out", type=Path, default=OUT / "memory.json")
    parser.add_argument(
        "--job",
        action="store_true",
        help="run the main job on each film instead of the stages one by one",
    )
    parser.add_argument(
        "--films", type=Path, help="keep the generated films here and reuse those already made"
    )
    parser.add_argument(
        "--peak",
        nargs=argparse.REMAINDER,
        help="run this command instead (a video-assets CLI call) and print its peak RSS",
    )
    parser.add_argument("--stdout", type=Path, help="with --peak: keep the command's output here")
    parser.add_argument(
        "--stem",
        nargs=2,
        metavar=("MINUTES", "WAV"),
        help="write a 16 kHz stem: quiet noise with a two-voice dialogue every 5 minutes",
    )
    parser.add_argument(
        "--film",
        nargs=2,
        metavar=("MINUTES", "MP4"),
        help="write the film the stages are measured on: that dialogue over music",
    )
    args = parser.parse_args()

    env = {**os.environ, "VIDEO_ASSETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    if args.stem:
        from video_assets.generate.speech import write_dialogue_stem

        speech_s = write_dialogue_stem(Path(args.stem[1]), float(args.stem[0]))
        print(
            f"{args.stem[1]}: {float(args.stem[0]):g} min, {speech_s:.1f} s of dialogue every 5 min"
        )
        return 0
    if args.film:
        t0 = time.perf_counter()
        film = make_film(Path(args.film[1]), float(args.film[0]))
        size_mb = film.stat().st_size / 2**20
        print(
            f"{film}: {float(args.film[0]):g} min, {size_mb:.1f} MB, made in {time.perf_counter() - t0:.0f} s"
        )
        return 0
    if args.peak:
        cmd = [sys.executable, "-m", "video_assets.cli", *args.peak]
        row = peak_rss(cmd, env, Path.cwd(), args.stdout)
        print(f"exit {row['returncode']}  peak {row['peak_rss_mb']:.0f} MB  {row['wall_s']:.0f} s")
        for phase in row["phases"]:
            print(
                f"  from {phase['at_s']:7.1f} s  peak {phase['peak_rss_mb']:6.0f} MB  {phase['from']}"
            )
        return row["returncode"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        work = Path(tmp)
        films = args.films or work
        films.mkdir(parents=True, exist_ok=True)
        for minutes in args.minutes:
            t0 = time.perf_counter()
            video = films / f"film-{minutes:g}min.mp4"
            if not video.exists():
                make_film(video.with_suffix(".part.mp4"), minutes).rename(video)
            made_s = time.perf_counter() - t0
            size_mb = video.stat().st_size / 2**20
            print(f"{minutes:g} min: {size_mb:.1f} MB, made in {made_s:.0f} s", flush=True)
            for stage in ["job"] if args.job else args.stages:
                row = {"minutes": minutes, "input_mb": round(size_mb, 1), "stage": stage}
                row |= run_job(video, work, env) if args.job else run_stage(stage, video, work, env)
                rows.append(row)
                print(
                    f"  {stage:10s} exit {row['returncode']}  peak {row['peak_rss_mb']:8.1f} MB  "
                    f"{row['wall_s']:7.1f} s {row['stderr_tail'][-200:]}",
                    flush=True,
                )
            if args.films is None:
                video.unlink()
    minutes_list = list(dict.fromkeys(r["minutes"] for r in rows))
    print("\n| stage | " + " | ".join(f"{m:g} min: peak RSS, wall" for m in minutes_list) + " |")
    print("|---|" + "---:|" * len(minutes_list))
    by_minutes = {r["minutes"]: r for r in rows}
    if args.job:  # a row per step: its peak (the job's process, in-process steps)
        steps = list(dict.fromkeys(k for r in rows for k in r.get("steps", {})))
        for step in steps:
            cells = [
                f"{by_minutes[m]['steps'][step]:.0f} MB" if step in by_minutes[m]["steps"] else "-"
                for m in minutes_list
            ]
            print(f"| {step} | " + " | ".join(cells) + " |")
    for stage in ["job"] if args.job else args.stages:
        cells = []
        for m in minutes_list:
            r = next(r for r in rows if r["stage"] == stage and r["minutes"] == m)
            mark = "" if r["returncode"] == 0 else f" (exit {r['returncode']})"
            cells.append(f"{r['peak_rss_mb']:.0f} MB, {r['wall_s']:.0f} s{mark}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "command": " ".join(sys.argv),
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.out}")
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
