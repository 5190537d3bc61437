"""A Dagster run of one partition that SIGKILLs itself in the middle of a write.

Run as ``python -m tests.kill_run CONFIG.json``, or by tests/test_faults.py as :func:`forked`
(a fork of a process that imported the code location once); it materializes
every asset for one video, the tokenizer and the shards included. The config names
the data root, the landing file, DAGSTER_HOME and ``kill_rel``: the first write whose
relative path starts with it is stopped after its temporary file or folder is complete and
before it is published under its final name (the widest window a crash can hit). With no
``kill_rel`` the run completes. ``per_video_done`` skips the per-video assets where an
earlier run on the same root completed them. Nothing here changes the pipeline's code: the kill wraps
``DataRoot.atomic_file`` and ``DataRoot.atomic_dir`` in this process only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import dagster as dg

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import (
    AudioStageConfig,
    ShardStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
)
from dagster_project.defs.shards.assets import training_shards
from dagster_project.defs.tokens.assets import token_tensors, tokenizer_model
from dagster_project.defs.tokens.checks import token_mismatch
from video_assets.registry import register
from video_assets.store import DataRoot

KILLED_EXIT = -signal.SIGKILL


def resources(data_root: str, landing_dir: str, demucs_repo: str) -> dict:
    return {
        "store": StoreResource(data_root=data_root, landing_dir=landing_dir, settle_s=0.0),
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(demucs_model=demucs_repo),
        "token_config": TokenStageConfig(channels=4, resolution=16, train_steps=2, train_frames=5),
        "shard_config": ShardStageConfig(),
    }


def arm(kill_rel: str) -> None:
    """Make the first write under ``kill_rel`` kill this process before it is published."""
    for name in ("atomic_file", "atomic_dir"):
        original = getattr(DataRoot, name)

        def killing(self: DataRoot, rel: str, _original=original):  # noqa: ANN202
            @contextlib.contextmanager
            def cm():  # noqa: ANN202
                with _original(self, rel) as tmp:
                    yield tmp
                    if rel.startswith(kill_rel):
                        sys.stdout.flush()
                        os.kill(os.getpid(), signal.SIGKILL)

            return cm()

        setattr(DataRoot, name, killing)


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    res = resources(cfg["data_root"], str(Path(cfg["landing_file"]).parent), cfg["demucs_repo"])
    vid = register(res["store"].root(), Path(cfg["landing_file"])).video_id
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME from the environment
    instance.add_dynamic_partitions(videos.name, [vid])
    if cfg.get("kill_rel"):
        arm(cfg["kill_rel"])
    per_video = [a for a in ASSETS if a.partitions_def is not None]
    # The order a user's runs take: the per-video assets (token_tensors waits for a
    # tokenizer), the tokenizer, the video's tokens, then the shards of every video.
    steps = [
        ([*per_video, *CHECKS], vid),
        ([tokenizer_model], None),
        ([token_tensors, token_mismatch], vid),
        ([training_shards], None),
    ]
    if cfg.get("per_video_done"):
        steps = steps[1:]  # an earlier run on this root completed them: save the repeat
    success = True
    for selection, key in steps:
        result = dg.materialize(
            selection, partition_key=key, instance=instance, resources=res, raise_on_error=False
        )
        success = result.success
        if not success:
            break
    print(json.dumps({"video_id": vid, "success": success}))
    return 0 if success else 1


def forked(config_path: str, home: str, out_path: str, err_path: str) -> None:
    """``main`` in a process forked from a server that imported this module (and so the code
    location) once: ``multiprocessing``'s forkserver, as tests/test_faults.py starts it. Its
    stdout and stderr go to the two files; its exit status is ``main``'s, or -9 when killed."""
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.environ["DAGSTER_HOME"] = home
    os.chdir(Path(__file__).resolve().parents[1])
    sys.exit(main(config_path))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
