"""The main job: materialize every asset for one video (the generated sample by default).

    python -m dagster_project.main [VIDEO]

Runs against the same Dagster instance (``DAGSTER_HOME``) and data root the UI uses, so
the runs, lineage and check results appear in ``dagster dev`` afterwards.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.ingest.registry import register
from dagster_project.defs.partitions import VIDEOS
from dagster_project.defs.resources import (
    ShardStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
    audio_config_from_env,
)
from video_assets.errors import VideoAssetsError
from video_assets.store import S3_ENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "video", nargs="?", type=Path, help="a video file (default: generate the sample)"
    )
    args = parser.parse_args(argv)

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
    # No Demucs weights ship with any package: the sample run passes the mix through (a check
    # warns) unless a model is configured. Set VIDEO_ASSETS_ALLOW_PASSTHROUGH=0 to fail instead.
    os.environ.setdefault("VIDEO_ASSETS_ALLOW_PASSTHROUGH", "1")
    landing.mkdir(parents=True, exist_ok=True)

    s3: dict[str, Any] = {field: os.environ.get(var, "") for field, var in S3_ENV.items()}
    store = StoreResource(data_root=data_root, landing_dir=str(landing), **s3)
    try:
        video = args.video
        if video is None:
            from video_assets.sample import make_sample

            video = landing / "sample.mp4"
            if not video.exists():
                print(f"generating the sample video at {video} ...", flush=True)
                make_sample(video)
        reg = register(store.root(), video.absolute())
    except VideoAssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    instance = dg.DagsterInstance.get()
    if reg.video_id not in instance.get_dynamic_partitions(VIDEOS):
        instance.add_dynamic_partitions(VIDEOS, [reg.video_id])
    resources = {
        "store": store,
        "video_config": VideoStageConfig(),
        "audio_config": audio_config_from_env(),
        "shard_config": ShardStageConfig(),
        "token_config": TokenStageConfig(
            checkpoint=os.environ.get("VIDEO_ASSETS_TOKENIZER_CHECKPOINT", "")
        ),
    }
    by_group: dict[str, list] = {}
    for a in ASSETS:
        by_group.setdefault(a.group_names_by_key[a.key], []).append(a)
    token_keys = {a.key for a in by_group["tokens"]}
    # Per-video stages, then the tokenizer (trained on the catalog's clips), then the tokens.
    steps = [
        (
            [a for a in ASSETS if a.partitions_def is not None and a.key not in token_keys],
            reg.video_id,
        ),
        (by_group["tokenizer"], None),
        (by_group["tokens"], reg.video_id),
        (by_group["training"], None),
        (by_group["catalog"], None),
    ]
    events: list[dg.DagsterEvent] = []
    for assets, partition in steps:
        keys = {a.key for a in assets}
        checks = [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]
        result = dg.materialize(
            [*assets, *checks],
            partition_key=partition,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        events += result.all_events
        if not result.success:
            print(
                f"the run for {video} failed; see the run {result.run_id} in the UI",
                file=sys.stderr,
            )
            return 1

    evaluations = [
        e.event_specific_data
        for e in events
        if isinstance(e.event_specific_data, dg.AssetCheckEvaluation)
    ]
    print(f"\nvideo {video} -> partition {reg.video_id}")
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
    print(
        "\nopen the UI:  DAGSTER_HOME="
        + str(home)
        + " uv run dagster dev -w workspace.yaml  (http://127.0.0.1:3000)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
