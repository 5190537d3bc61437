"""Faults in a real Dagster run: a process killed in the middle of each write, a full disk.

The promise (issue 8): no partial file is ever visible under a final name, the catalog
never shows a partial partition, a re-run after any failure ends with the same files and
rows as a clean run, and the source video is never touched. Temporary files a killed
writer leaves are hidden (``.tmp-<host>-<pid>-...``) and removed by the next write in
their folder once their process is gone.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import uuid
import wave
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from tests import kill_run
from tests.audio_support import tiny_demucs_repo
from tests.conftest import sha256
from video_assets.catalog import connect
from video_assets.registry import register
from video_assets.store import DataRoot, sweep_dead_temps, tmp_name

REPO = Path(__file__).resolve().parents[1]
TABLES = (
    "videos",
    "keyframes",
    "scenes",
    "clips",
    "stems",
    "words",
    "segments",
    "speaker_turns",
    "tokens",
    "shard_samples",
    "shard_exclusions",
)
UNPARTITIONED = ("shards",)

# Each write of every asset, in the order a run makes them. From the second token point on,
# the killed runs before have completed the per-video assets, and the run skips them.
KILL_POINTS = [
    pytest.param("videos/", False, id="source-copy"),
    pytest.param("tables/scenes/", False, id="scenes-parquet"),
    pytest.param("clips/", False, id="clip-folder"),
    pytest.param("stems/", False, id="stem-folder"),
    pytest.param("tables/words/", False, id="words-parquet"),
    pytest.param("models/tokenizer/tokenizer-", False, id="tokenizer-checkpoint"),
    pytest.param("models/tokenizer/current.json", True, id="tokenizer-pointer"),
    pytest.param("tokens/", True, id="token-folder"),
    pytest.param("tables/tokens/", True, id="tokens-parquet"),
    pytest.param("shards/", True, id="shard-tar"),
    # The shard tables are written before the manifest: replacing the manifest commits a
    # shard update, so a run killed before it is redone whole by the next one.
    pytest.param("tables/shard_samples/", True, id="shard-samples-parquet"),
    pytest.param("tables/shards/", True, id="shards-parquet"),
    pytest.param("shards/manifest.json", True, id="shard-manifest"),
]


def visible_files(root: Path) -> dict[str, Path]:
    """Files under final names: nothing hidden, not the DuckDB catalog."""
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in files:
            if not f.startswith(".") and f != "catalog.duckdb":
                p = Path(dirpath) / f
                out[str(p.relative_to(root))] = p
    return out


def hidden_temps(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob(".tmp-*")]


def wav_samples(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int32)


def same_file(rel: str, a: Path, b: Path) -> bool:
    """Byte-identical; stems are compared as samples (Demucs on CPU may differ in the last bit)."""
    if rel.startswith("stems/") and rel.endswith(".wav"):
        x, y = wav_samples(a), wav_samples(b)
        return x.shape == y.shape and int(np.abs(x - y).max(initial=0)) <= 2
    return sha256(a) == sha256(b)


def table_rows(root: Path, vid: str) -> dict[str, list[tuple]]:
    with connect(DataRoot(root)) as con:
        out = {}
        for t in TABLES:
            df = con.execute(f"SELECT * FROM {t} WHERE video_id = $v", {"v": vid}).df()  # noqa: S608 - fixed names
            # stems rows carry sample statistics; they are checked through the files
            out[t] = (
                sorted(map(tuple, df.astype(str).values.tolist())) if t != "stems" else [len(df)]
            )
        for t in UNPARTITIONED:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $t", {"t": t}
            ).fetchone()[0]
            df = con.execute(f"SELECT * FROM {t}").df() if exists else None  # noqa: S608 - fixed names
            out[t] = [] if df is None else sorted(map(tuple, df.astype(str).values.tolist()))
        return out


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(
    ["tests.kill_run", "torch", "whisperx.vads", "faster_whisper", "demucs.apply", "resemblyzer"]
)
"""Each run is a fork of one server process that imported the code location and the models'
packages once (a fresh Python per run spent seconds of CPU importing Dagster, torch,
pyannote and the models' packages: 13 of a clean run's 27 s)."""


def run_partition(
    cfg: dict, home: Path, tmp: Path, timeout_s: float = 600
) -> subprocess.CompletedProcess:
    """One run of ``tests.kill_run`` in a process of its own; its exit status is -9 when the
    run killed itself."""
    home.mkdir(parents=True, exist_ok=True)
    stem = tmp / f"kill-{uuid.uuid4().hex[:8]}"
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(cfg))
    out, err = stem.with_suffix(".out"), stem.with_suffix(".err")
    proc = _FORKS.Process(target=kill_run.forked, args=(str(path), str(home), str(out), str(err)))
    proc.start()
    proc.join(timeout_s)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise TimeoutError(f"the run of {path} did not end in {timeout_s:.0f} s")
    return subprocess.CompletedProcess(
        ["tests.kill_run", str(path)], proc.exitcode, out.read_text(), err.read_text()
    )


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, fixed_gop_video):
    """One uninterrupted run: the reference every killed and re-run root is held to."""
    tmp = tmp_path_factory.mktemp("faults")
    landing = tmp / "landing"
    landing.mkdir()
    video = landing / "interview take 1.mp4"
    shutil.copyfile(fixed_gop_video.path, video)
    cfg = {
        "data_root": str(tmp / "clean"),
        "landing_file": str(video),
        "demucs_repo": str(tiny_demucs_repo()),
    }
    done = run_partition(cfg, tmp / "home-clean", tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    vid = json.loads(done.stdout.strip().splitlines()[-1])["video_id"]
    return {
        "tmp": tmp,
        "video": video,
        "vid": vid,
        "root": tmp / "clean",
        "cfg": cfg,
        "source_sha": sha256(video),
        "rows": table_rows(tmp / "clean", vid),
    }


@pytest.fixture(scope="module")
def killed_root(clean_run):
    """One data root that every kill point below hits in turn, then a full re-run."""
    return {
        "root": clean_run["tmp"] / "killed",
        "home": clean_run["tmp"] / "home-killed",
        "kills": [],
    }


@pytest.mark.slow
@pytest.mark.parametrize(("kill_rel", "per_video_done"), KILL_POINTS)
def test_kill_mid_write_publishes_nothing_partial(kill_rel, per_video_done, clean_run, killed_root):
    ref, root, vid = clean_run["root"], killed_root["root"], clean_run["vid"]
    cfg = {
        **clean_run["cfg"],
        "data_root": str(root),
        "kill_rel": kill_rel,
        "per_video_done": per_video_done,
    }
    # Assets without a dependency between them run in any order, so an earlier killed run
    # may already have published this target whole; the killed write must not change it.
    target_before = (
        sorted(r for r in visible_files(root) if r.startswith(kill_rel)) if root.exists() else []
    )
    run = run_partition(cfg, killed_root["home"], clean_run["tmp"])
    assert run.returncode == -9, f"the run was not killed at {kill_rel}:\n{run.stderr[-3000:]}"
    killed_root["kills"].append(kill_rel)

    assert sha256(clean_run["video"]) == clean_run["source_sha"]  # the source is untouched
    seen = visible_files(root)
    reference = visible_files(ref)
    assert sorted(r for r in seen if r.startswith(kill_rel)) == target_before, (
        f"the killed write under {kill_rel} was published"
    )
    for rel, path in seen.items():
        assert rel in reference, f"{rel} is not an output of a clean run"
        assert same_file(rel, path, reference[rel]), f"{rel} differs from the clean run's"
    # Every table shows the partition whole or not at all.
    rows = table_rows(root, vid)
    for table, got in rows.items():
        assert got in ([], [0], clean_run["rows"][table]), f"{table} shows a partial partition"
    # The killed writer's temporary file or folder is there, hidden.
    assert hidden_temps(root), "the kill left no temporary file: nothing was interrupted"


@pytest.mark.slow
def test_rerun_after_every_kill_equals_a_clean_run(clean_run, killed_root):
    root = killed_root["root"]
    if len(killed_root["kills"]) < len(KILL_POINTS):
        pytest.fail(f"the kill tests did not all run first ({killed_root['kills']})")
    left = hidden_temps(root)
    assert left, "the kills left no temporary files: nothing was interrupted"
    run = run_partition(
        {**clean_run["cfg"], "data_root": str(root)}, killed_root["home"], clean_run["tmp"]
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen, reference = visible_files(root), visible_files(clean_run["root"])
    assert seen.keys() == reference.keys()
    for rel, path in seen.items():
        assert same_file(rel, path, reference[rel]), f"{rel} differs from the clean run's"
    assert table_rows(root, clean_run["vid"]) == clean_run["rows"]
    # Every folder the re-run wrote into swept what the killed runs left there.
    assert hidden_temps(root) == [], "temporary files of dead writers were left behind"
    assert sha256(clean_run["video"]) == clean_run["source_sha"]


# -- the data root itself --------------------------------------------------------------------


def test_sweep_removes_only_dead_writers_temps(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    mine = tmp_name("live.parquet")  # this process: alive
    theirs = mine.replace(f"-{os.getpid()}-", f"-{dead_pid}-", 1)
    other_host = (
        "." + "tmp-zzzzzz" + mine[len(".tmp-") + 6 :].replace(str(os.getpid()), str(dead_pid), 1)
    )
    for name in (mine, theirs, other_host, "part.parquet", ".tmp-legacy-name"):
        (tmp_path / name).write_bytes(b"x")
    folder = tmp_path / tmp_name("clips").replace(f"-{os.getpid()}-", f"-{dead_pid}-", 1)
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "c.mp4").write_bytes(b"y")
    removed = sweep_dead_temps(tmp_path)
    assert sorted(removed) == sorted([theirs, folder.name])
    assert sorted(os.listdir(tmp_path)) == sorted(
        [mine, other_host, "part.parquet", ".tmp-legacy-name"]
    )


def test_atomic_dir_swaps_whole_folders_and_keeps_the_old_on_failure(tmp_path):
    root = DataRoot(tmp_path / "data")
    with root.atomic_dir("clips/v1") as tmp:
        (tmp / "a.mp4").write_bytes(b"old a")
        (tmp / "b.mp4").write_bytes(b"old b")
    with pytest.raises(RuntimeError), root.atomic_dir("clips/v1") as tmp:
        (tmp / "a.mp4").write_bytes(b"new a")
        raise RuntimeError("killed halfway")
    assert root.listdir("clips/v1") == ["a.mp4", "b.mp4"]
    assert root.read_bytes("clips/v1/a.mp4") == b"old a"
    with root.atomic_dir("clips/v1") as tmp:
        (tmp / "c.mp4").write_bytes(b"new c")
    assert root.listdir("clips/v1") == ["c.mp4"]
    assert os.listdir(tmp_path / "data" / "clips") == ["v1"]  # the old folder is gone, no temp left


# -- a full disk -----------------------------------------------------------------------------


@pytest.fixture()
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"this machine cannot mount a tmpfs: {exc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=30)


def _remount(mnt: Path, size: int) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(mnt)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_full_disk_fails_cleanly_and_rerun_completes(small_tmpfs, tmp_path, fixed_gop_video):
    landing = tmp_path / "landing"
    landing.mkdir()
    video = landing / "big.mp4"
    shutil.copyfile(fixed_gop_video.path, video)
    before = sha256(video)
    size = video.stat().st_size
    assets = [source_video, iframe_index, scene_table, clips]
    cfg = VideoStageConfig(min_clip_s=1.0)

    def materialize(
        data_root: Path, instance: dg.DagsterInstance, vid: str
    ) -> dg.ExecuteInJobResult:
        store = StoreResource(data_root=str(data_root), landing_dir=str(landing), settle_s=0.0)
        return dg.materialize(
            assets,
            partition_key=vid,
            instance=instance,
            raise_on_error=False,
            resources={"store": store, "video_config": cfg},
        )

    clean = tmp_path / "clean"
    vid = register(DataRoot(clean), video).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    assert materialize(clean, instance, vid).success

    # Room for the source copy and the tables, not for the clips as well.
    data = small_tmpfs / "data"
    _remount(small_tmpfs, size + 256 * 1024)
    register(DataRoot(data), video)
    result = materialize(data, instance, vid)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.to_string()
    assert "is full (no space left on its device)" in message and "clips" in message, message
    assert failure.step_key == "clips"
    assert sha256(video) == before
    assert not (data / "clips" / vid).exists()
    assert hidden_temps(data) == []  # the failed write cleaned up after itself

    _remount(small_tmpfs, 8 * size + 1024 * 1024)
    assert materialize(data, instance, vid).success
    seen, reference = visible_files(data), visible_files(clean)
    assert seen.keys() == reference.keys()
    assert all(same_file(rel, p, reference[rel]) for rel, p in seen.items())
