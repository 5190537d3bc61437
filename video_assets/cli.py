"""The ``video-assets`` command: each stage on one file, JSON on stdout with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from video_assets.errors import VideoAssetsError


def _progress_printer(label: str, enabled: bool) -> Callable[[int, int], None] | None:
    """A progress bar on a terminal, plain lines otherwise; always on stderr."""
    if not enabled:
        return None
    tty = sys.stderr.isatty()
    last = [-1]

    def show(done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if tty:
            bar = "#" * (pct // 4)
            print(f"\r{label} [{bar:<25}] {done}/{total}", end="", file=sys.stderr, flush=True)
            if done >= total:
                print(file=sys.stderr)
        elif pct // 10 != last[0] // 10 or done >= total:
            print(f"{label}: {done}/{total} frames ({pct}%)", file=sys.stderr, flush=True)
        last[0] = pct

    return show


def _emit(args: argparse.Namespace, payload: dict, human: str) -> None:
    if args.json:
        json.dump(payload, sys.stdout, indent=None, default=str)
        sys.stdout.write("\n")
    else:
        print(human)


def cmd_keyframes(args: argparse.Namespace) -> int:
    from video_assets.keyframes import build_index

    index = build_index(args.file)
    _emit(args, index.to_json(),
          f"{args.file}: {len(index.keyframe_frames)} keyframes in {index.frame_count} frames "
          f"({index.duration_s:.2f} s at {index.fps:.3f} fps), indexed in {index.elapsed_s:.3f} s")
    return 0


def _detector_settings(args: argparse.Namespace):
    from video_assets.scenes import DetectorSettings

    return DetectorSettings(detector=args.detector, threshold=args.threshold, min_scene_len=args.min_scene_len)


def cmd_scenes(args: argparse.Namespace) -> int:
    from video_assets.scenes import detect_scenes

    result = detect_scenes(
        args.file, mode=args.mode, detector=_detector_settings(args),
        progress=_progress_printer("scenes", not args.quiet),
    )
    lines = [f"{len(result.scenes)} scenes ({result.mode}, {result.frames_decoded} frames decoded, {result.elapsed_s:.2f} s)"]
    lines += [f"  {s.index:4d}  {s.start_s:9.3f} - {s.end_s:9.3f} s  frames {s.start_frame}-{s.end_frame}" for s in result.scenes]
    _emit(args, result.to_json(), "\n".join(lines))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from video_assets.clips import ClipSettings, split_video
    from video_assets.keyframes import build_index
    from video_assets.scenes import detect_scenes

    index = build_index(args.file)
    scenes = detect_scenes(args.file, mode=args.scene_mode, detector=_detector_settings(args), index=index,
                           progress=_progress_printer("scenes", not args.quiet))
    clips = split_video(args.file, scenes.scenes, args.out,
                        settings=ClipSettings(mode=args.mode, min_duration_s=args.min_duration), index=index)
    payload = {"clips": [c.to_json() | {"scene_index": c.scene_index} for c in clips],
               "scenes": len(scenes.scenes)}
    human = "\n".join(f"{c.path}  {c.method:8s} {c.start_s:9.3f}-{c.end_s:9.3f} s  leaked {c.leaked_frames} lost {c.lost_frames}" for c in clips)
    _emit(args, payload, human or "no scene is long enough to cut")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from video_assets.sample import make_sample

    sample = make_sample(Path(args.out))
    _emit(args, {"path": str(sample.path), "cuts": sample.cuts, "fps": sample.fps,
                 "frame_count": sample.frame_count}, str(sample.path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("keyframes", help="keyframe index from packet flags (no decoding)")
    p.add_argument("file", type=Path)
    common(p)
    p.set_defaults(func=cmd_keyframes)

    def detector_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--detector", choices=["content", "adaptive"], default="content")
        p.add_argument("--threshold", type=float, default=None,
                       help="ContentDetector threshold (27) or AdaptiveDetector adaptive_threshold (3)")
        p.add_argument("--min-scene-len", type=int, default=15, help="minimum scene length in frames")

    p = sub.add_parser("scenes", help="scene detection (cascade or full)")
    p.add_argument("file", type=Path)
    p.add_argument("--mode", choices=["cascade", "full"], default="cascade")
    detector_args(p)
    common(p)
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("split", help="detect scenes and cut one clip per scene")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=["copy", "reencode"], default="copy")
    p.add_argument("--scene-mode", choices=["cascade", "full"], default="cascade")
    p.add_argument("--min-duration", type=float, default=3.0, help="minimum clip length in seconds")
    detector_args(p)
    common(p)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("sample", help="generate the sample video (cuts, speech, music bed)")
    p.add_argument("--out", type=Path, default=Path("data/landing/sample.mp4"))
    common(p)
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except VideoAssetsError as exc:
        print(f"video-assets: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"video-assets: invalid setting: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
