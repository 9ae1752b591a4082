"""genvid eval fvd: Fréchet video distance between real and generated clips.

Features come from a transformers VideoMAE folder you have on disk (--feature-model); the recipe
is content-debiased FVD's (Ge et al., CVPR 2024): the first 16 frames (the network's frame count)
of each clip, each resized bilinearly to the network's square input, the encoder's tokens
mean-pooled. Lower is better; the figure depends on the network and on the number of clips, so
compare runs with the same folder and the same counts. See genvid/eval/fvd.py for where it differs
from the classic I3D FVD.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "FVD between two sets of clips, with a local VideoMAE feature model"


def add_arguments(parser) -> None:
    from genvid.commands.eval.outputs import add_output_arguments

    parser.add_argument("--real", required=True, nargs="+", help="real clips: folders, files or manifests (.csv / .jsonl)")
    parser.add_argument("--generated", required=True, nargs="+", help="generated clips: folders, files or manifests")
    parser.add_argument("--feature-model", required=True, help="a transformers VideoMAE save_pretrained folder")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    parser.add_argument("--max-clips", type=int, default=None, help="use at most this many clips of each set")
    add_output_arguments(parser, report_clips=8, clips_help="clips of each set")


def run(args) -> int:
    from genvid.commands.encode import pick_device
    from genvid.errors import GenvidError
    from genvid.eval.clips import clip_paths, read_clips
    from genvid.eval.fvd import VideoFeatureModel, fvd_from_features

    if args.batch_size < 1:
        raise GenvidError(f"--batch-size must be >= 1, got {args.batch_size}")
    model = VideoFeatureModel.from_folder(args.feature_model, pick_device(args.device))
    sets = {"real": clip_paths(args.real)[: args.max_clips], "generated": clip_paths(args.generated)[: args.max_clips]}
    features = {}
    for name, paths in sets.items():
        if len(paths) < 2:
            raise GenvidError(f"FVD needs at least 2 {name} clips, found {len(paths)}")
        features[name] = model.features(read_clips(paths, model.num_frames), args.batch_size, f"features ({name})")
    distance = fvd_from_features(features["real"], features["generated"])
    figures = {"fvd": distance, "real_clips": len(sets["real"]), "generated_clips": len(sets["generated"]),
               "feature_dim": int(features["real"].shape[1]), "num_frames": model.num_frames, "size": model.size}
    print(f"FVD {distance:.4f}  ({figures['real_clips']} real, {figures['generated_clips']} generated clips; "
          f"{model.num_frames} frames at {model.size}x{model.size}, {figures['feature_dim']}-d VideoMAE features)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if args.report:
        from genvid.eval.report import Report

        report = Report(args.report, "FVD")
        report.heading("Fréchet video distance")
        report.table(["figure", "value"], [[key.replace("_", " "), value] for key, value in figures.items()])
        report.note(f"Feature model: {args.feature_model}. Lower is better; compare only figures from the same "
                    "feature model and the same numbers of clips.")
        for name, paths in sets.items():
            report.heading(f"{name} clips (first {min(args.report_clips, len(paths))})")
            report.begin_grid()
            for path, clip in zip(paths, read_clips(paths[: args.report_clips])):
                report.animation(clip, Path(path).name)
            report.end_grid()
        print(f"report: {report.write()}")
    return 0
