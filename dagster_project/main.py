"""The main job: materialize every asset for one video (the generated sample by default).

    python -m dagster_project.main [VIDEO] [--retrain-tokenizer]

Runs against the same Dagster instance (``DAGSTER_HOME``) and data root the UI uses, so
the runs, lineage and check results appear in ``dagster dev`` afterwards.

The first run trains the tokenizer on the clips it has; later runs encode their video's
clips with that tokenizer, so the tokens of earlier videos stay current and every video
stays in the shards. ``--retrain-tokenizer`` trains it again on every clip in the catalog;
every video's tokens are then encoded again (in this process) before the shards are
refreshed. The shards take the new video's samples in new shards; nothing else is rewritten.
"""

import argparse
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.console import LOG_FILE, materialize
from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import VIDEOS
from dagster_project.defs.resources import (
    StoreResource,
    TokenStageConfig,
    default_resources,
)
from video_assets.catalog import connect, sql_text
from video_assets.errors import VideoAssetsError
from video_assets.layout import current_tokenizer, has_tokenizer
from video_assets.registry import register
from video_assets.store import S3_ENV, DataRoot


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    data_root, landing, home = _local_setup()
    s3: dict[str, Any] = {field: os.environ.get(var, "") for field, var in S3_ENV.items()}
    store = StoreResource(data_root=data_root, landing_dir=str(landing), **s3)
    try:
        token_config = TokenStageConfig.from_env()
        video = args.video if args.video is not None else _sample_video(landing)
        reg = register(store.root(), video.absolute())
    except VideoAssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    instance = dg.DagsterInstance.get()
    if reg.video_id not in instance.get_dynamic_partitions(VIDEOS):
        instance.add_dynamic_partitions(VIDEOS, [reg.video_id])
    resources = {**default_resources(), "store": store, "token_config": token_config}
    runs = _Runs(instance, resources, video)
    if not _run_stages(runs, store, reg.video_id, token_config, args.retrain_tokenizer):
        return 1
    _print_report(runs, reg.video_id, data_root, home, landing)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "video", nargs="?", type=Path, help="a video file (default: generate the sample)"
    )
    parser.add_argument(
        "--retrain-tokenizer",
        action="store_true",
        help="train the tokenizer again on every clip in the catalog, then encode every video "
        "again with it (by default only the first run trains one)",
    )
    return parser.parse_args(argv)


def _local_setup() -> tuple[str, Path, Path]:
    """The data root, landing folder and Dagster home (set in the environment when unset).

    Creates the landing folder and the home, with the local ``dagster.yaml`` if it has none.
    """
    root_setting = os.environ.setdefault("VIDEO_ASSETS_DATA_ROOT", "data")
    # A URL (s3://bucket/prefix) is kept as it is; the landing folder stays local.
    data_root = (
        root_setting.rstrip("/") if "://" in root_setting else str(Path(root_setting).absolute())
    )
    default_landing = Path("data/landing") if "://" in root_setting else Path(data_root) / "landing"
    landing = Path(
        os.environ.setdefault("VIDEO_ASSETS_LANDING_DIR", str(default_landing))
    ).absolute()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").absolute())))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(
            Path(__file__).resolve().parent.parent / "deploy" / "local" / "dagster.yaml",
            home / "dagster.yaml",
        )
    landing.mkdir(parents=True, exist_ok=True)
    return data_root, landing, home


def _sample_video(landing: Path) -> Path:
    """The generated sample in the landing folder, made on first use."""
    from video_assets.generate.sample import make_sample

    video = landing / "sample.mp4"
    if not video.exists():
        print(f"generating the sample video at {video} ...", flush=True)
        make_sample(video)
    return video


@dataclass
class _Runs:
    """Materializes asset selections with their checks, keeping run ids and reported events."""

    instance: dg.DagsterInstance
    resources: dict[str, Any]
    video: Path
    events: list[dg.DagsterEvent] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def run(self, assets: list, partition: str | None, report: bool = True) -> bool:
        keys = {a.key for a in assets}
        checks = [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]
        result = materialize(
            [*assets, *checks],
            partition_key=partition,
            instance=self.instance,
            resources=self.resources,
        )
        self.run_ids.append(result.run_id)
        if report:  # the check verdicts printed below are this video's and the shared assets'
            self.events.extend(result.all_events)
        if not result.success:
            print(
                f"the run for {self.video} failed; see the run {result.run_id} in the UI",
                file=sys.stderr,
            )
        return result.success


def _run_stages(
    runs: _Runs,
    store: StoreResource,
    video_id: str,
    token_config: TokenStageConfig,
    retrain_tokenizer: bool,
) -> bool:
    """Every stage in order; False as soon as a run fails.

    The per-video stages; the tokenizer only when there is none yet, when asked, or when
    another checkpoint is configured; then the tokens of this video and of every video
    whose tokens are missing or were made by another tokenizer; then the shards.
    """
    by_group: dict[str, list] = {}
    for a in ASSETS:
        by_group.setdefault(a.group_names_by_key[a.key], []).append(a)
    token_keys = {a.key for a in by_group["tokens"]}
    per_video = [a for a in ASSETS if a.partitions_def is not None and a.key not in token_keys]
    if not runs.run(per_video, video_id):
        return False
    root = store.root()
    if _needs_tokenizer(root, token_config, retrain_tokenizer) and not runs.run(
        by_group["tokenizer"], None
    ):
        return False
    todo = sorted({video_id, *_videos_to_tokenize(root)})
    known = set(runs.instance.get_dynamic_partitions(VIDEOS))
    if set(todo) - known:
        runs.instance.add_dynamic_partitions(VIDEOS, sorted(set(todo) - known))
    for vid in todo:
        if not runs.run(by_group["tokens"], vid, report=vid == video_id):
            return False
    return runs.run(by_group["training"], None) and runs.run(by_group["catalog"], None)


def _print_report(runs: _Runs, video_id: str, data_root: str, home: Path, landing: Path) -> None:
    """The check verdicts of this video's runs, where the outputs are, how to open the UI."""
    evaluations = [
        e.event_specific_data
        for e in runs.events
        if isinstance(e.event_specific_data, dg.AssetCheckEvaluation)
    ]
    print(f"\nvideo {runs.video} -> partition {video_id}")
    for ev in evaluations:
        verdict = (
            "passed"
            if ev.passed
            else ("WARN" if ev.severity == dg.AssetCheckSeverity.WARN else "FAILED")
        )
        print(f"  check {ev.check_name:<22} {verdict}")
    print(f"outputs under {data_root}:")
    for sub in (
        "videos",
        "tables",
        "clips",
        "stems",
        "tokens",
        "models/tokenizer",
        "shards",
        "previews",
        "catalog.duckdb",
    ):
        print(f"  {data_root}/{sub}")
    run_ids = ", ".join(r[:8] for r in runs.run_ids)
    print(
        f"every event of the {len(runs.run_ids)} runs ({run_ids}): the instance at {home.absolute()}"
    )
    print(f"what the steps printed: {home.absolute() / LOG_FILE} (and each step's logs in the UI)")
    print("\nopen the UI on this instance and data root (http://127.0.0.1:3000):")
    print("  " + ui_command(home.absolute(), data_root, landing))


def ui_command(home: Path, data_root: str, landing: Path) -> str:
    """``bash scripts/ui.sh``, with the settings that differ from its defaults in front."""
    project = Path(__file__).resolve().parent.parent
    defaults = {
        "DAGSTER_HOME": str(project / ".dagster_home"),
        "VIDEO_ASSETS_DATA_ROOT": str(project / "data"),
        "VIDEO_ASSETS_LANDING_DIR": str(project / "data" / "landing"),
    }
    used = {
        "DAGSTER_HOME": str(home),
        "VIDEO_ASSETS_DATA_ROOT": data_root,
        "VIDEO_ASSETS_LANDING_DIR": str(landing),
    }
    differ = [f"{k}={shlex.quote(v)}" for k, v in used.items() if v != defaults[k]]
    return " ".join([*differ, "bash", shlex.quote(str(project / "scripts" / "ui.sh"))])


def _needs_tokenizer(root: DataRoot, token_config: TokenStageConfig, retrain: bool) -> bool:
    """Train (or record) a tokenizer: asked to, none yet, or another checkpoint configured."""
    if retrain or not has_tokenizer(root):
        return True
    configured = token_config.checkpoint
    return bool(configured) and current_tokenizer(root)["path"] != str(Path(configured).absolute())


def _videos_to_tokenize(root: DataRoot) -> list[str]:
    """Videos with a clip whose tokens are missing or not made by the current tokenizer."""
    current = current_tokenizer(root)["hash"]
    with connect(root) as con:
        rows = con.execute(
            sql_text("reports/videos_to_tokenize.sql"), {"checkpoint_hash": current}
        ).fetchall()
    return [r[0] for r in rows]


if __name__ == "__main__":
    sys.exit(main())
