"""The catalog outside the repository: the SQL checks from an installed wheel, and the catalog
file opened by the ``duckdb`` command the README documents."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd

from video_assets.catalog import CATALOG_FILE, connect
from video_assets.store import DataRoot

REPO = Path(__file__).resolve().parent.parent
UV = os.environ.get("UV") or shutil.which("uv") or "uv"

# Runs with the unpacked wheel first on sys.path: every check file, then one that must find a row.
CHECKS_FROM_WHEEL = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path
    import pandas as pd
    import video_assets
    from video_assets.catalog import SQL_DIR, connect, run_check
    from video_assets.store import DataRoot

    root = DataRoot(Path("data").absolute())
    scenes = pd.DataFrame({
        "scene_index": [0, 1], "start_frame": [0, 100], "end_frame": [100, 125],
        "start_s": [0.0, 4.0], "end_s": [4.0, 5.0], "duration_s": [4.0, 1.0],
        "is_short": [False, True], "detector": ["content"] * 2, "mode": ["full"] * 2,
    })
    root.write_table("scenes", "v1", scenes)
    params = {"video_id": "v1", "checkpoint_hash": "none", "max_frames": 1, "max_loop_share": 0.5,
              "max_lost_share": 0.0, "min_cover": 0.5, "min_duration_s": 3.0,
              "min_language_probability": 0.5, "min_loop_words": 3, "min_score": 0.4}
    counts = {}
    with connect(root) as con:
        for f in sorted((SQL_DIR / "checks").glob("*.sql")):
            counts[f.stem] = run_check(con, f.stem, params).count
    print(json.dumps({"package": video_assets.__file__, "sql_dir": str(SQL_DIR), "counts": counts}))
    """
)


def test_checks_run_from_an_installed_wheel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [UV, "build", "--wheel", "--out-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("video_assets-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)  # installed without dependencies: the venv running the tests has them
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", CHECKS_FROM_WHEEL],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # The wheel's copy was used, not the repository's: the installed package carries sql/.
    assert Path(out["package"]).is_relative_to(site), out["package"]
    assert Path(out["sql_dir"]) == site / "video_assets" / "sql"
    assert sorted(out["counts"]) == sorted(p.stem for p in (REPO / "sql" / "checks").glob("*.sql"))
    assert out["counts"]["short_scenes"] == 1  # the 1 s scene, read through the packaged view
    assert sum(out["counts"].values()) == 1


def test_duckdb_command_opens_the_catalog(tmp_path):
    """The README's ``cd data && uv run --frozen duckdb catalog.duckdb``, on a catalog the
    catalog asset's ``connect(root, persistent=True)`` wrote (the main job's run is tested
    the same way in ``tests/test_main_job.py``)."""
    data = tmp_path / "data"
    root = DataRoot(data)
    scenes = pd.DataFrame(
        {
            "scene_index": [0, 1],
            "start_frame": [0, 100],
            "end_frame": [100, 125],
            "start_s": [0.0, 4.0],
            "end_s": [4.0, 5.0],
            "duration_s": [4.0, 1.0],
            "is_short": [False, True],
            "detector": ["content"] * 2,
            "mode": ["full"] * 2,
        }
    )
    root.write_table("scenes", "v1", scenes)
    with connect(root, persistent=True):
        pass
    query = "SELECT video_id, count(*) AS n FROM scenes WHERE is_short GROUP BY 1"
    assert duckdb_query(data, query) == ["video_id,n", "v1,1"]


def duckdb_query(data: Path, sql: str) -> list[str]:
    """Run ``sql`` as the README says (``uv run`` from the data root); the CSV result's lines."""
    proc = subprocess.run(
        [UV, "run", "--frozen", "--project", str(REPO), "duckdb", "-readonly", "-csv"]
        + [CATALOG_FILE, "-c", sql],
        cwd=data,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()
