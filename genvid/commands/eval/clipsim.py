"""genvid eval clipsim: how well generated clips match their prompts (VideoPoet's CLIPSIM).

Every frame of a clip and its prompt are embedded by a transformers CLIPModel folder you have on
disk (--clip-model); the score is their cosine, averaged over frames, then clips. Higher is better;
it depends on the CLIP network, so compare runs scored by the same folder. --prompts is a text
file with one prompt per line (paired with --generated's videos in name order) or a manifest
(.csv / .jsonl) with ``video`` and ``caption`` columns.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "CLIPSIM: mean per-frame CLIP image-text cosine of clips and their prompts"


def add_arguments(parser) -> None:
    from genvid.commands.eval.outputs import add_output_arguments

    parser.add_argument("--generated", default=None, help="folder of generated clips (with a text --prompts file)")
    parser.add_argument("--prompts", required=True, help="one prompt per line, or a manifest with video and caption")
    parser.add_argument("--clip-model", required=True, help="a transformers CLIPModel save_pretrained folder (with its tokenizer)")
    parser.add_argument("--num-frames", type=int, default=None, help="score at most this many frames of each clip")
    add_output_arguments(parser, report_clips=24, clips_help="clips")


def run(args) -> int:
    from genvid.commands.encode import pick_device
    from genvid.eval.clipsim import ClipScorer
    from genvid.eval.clips import prompted_clips, read_clips

    scorer = ClipScorer.from_folder(args.clip_model, pick_device(args.device))
    paths, prompts = prompted_clips(args.generated, args.prompts)
    clips = list(read_clips(paths, args.num_frames))
    scores = scorer.clip_scores(clips, prompts)
    mean = sum(scores) / len(scores)
    for path, prompt, score in zip(paths, prompts, scores):
        print(f"{Path(path).name}: {score:.4f}  {prompt}")
    print(f"CLIPSIM {mean:.4f} over {len(scores)} clips")
    if args.json:
        rows = [{"video": path, "prompt": prompt, "clipsim": score} for path, prompt, score in zip(paths, prompts, scores)]
        Path(args.json).write_text(json.dumps({"clipsim": mean, "clips": rows}, indent=1))
    if args.report:
        from genvid.eval.report import Report

        report = Report(args.report, "CLIPSIM")
        report.heading("CLIP image-text similarity")
        report.table(["figure", "value"], [["CLIPSIM", mean], ["clips", len(scores)], ["CLIP model", args.clip_model]])
        report.bar_chart("CLIPSIM per clip", [Path(path).name for path in paths], scores)
        report.heading("Clips and their prompts")
        report.begin_grid()
        for clip, prompt, score in list(zip(clips, prompts, scores))[: args.report_clips]:
            report.animation(clip, f"{prompt} — {score:.3f}")
        report.end_grid()
        print(f"report: {report.write()}")
    return 0
