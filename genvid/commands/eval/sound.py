"""genvid eval sound: do the generators with an audio codec hear and make the synthetic soundtracks?

On true clips of the synthetic set's seen and held-out combinations, each with its soundtrack
(pitch: colour, timbre: shape, glide or fade: motion), read back by the analyzers of genvid.eval:
v2a (AR: the clip -> sound, audio analyzer), a2v (AR: the sound alone -> video, video analyzer),
audio (diffusion: the sound alone, and with its caption -> video), with_audio (AR: the caption ->
video and its v2a sound, as `genvid generate --with-audio` makes them; both analyzers, and whether
they agree with the caption), and reference (the audio analyzer on the true sounds and their codec
round trip, the video analyzer on the true clips: the ceilings). Defaults to the shipped demos,
skipping one without an audio codec; see genvid.eval.sound_eval for what each row measures.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "sound: v2a, a2v, the audio-conditioned DiT and --with-audio, read back by the audio and video analyzers"


#: genvid.eval.sound_eval.TASKS' names, here so that building the parser imports no torch
TASK_NAMES = ("v2a", "a2v", "audio", "with_audio", "reference")


def add_arguments(parser) -> None:
    parser.add_argument("--pipeline", nargs="+", default=None, metavar="FOLDER",
                        help="pipeline folders with an audio codec (default: the shipped demos genvid/demo/ar and "
                             "genvid/demo/diffusion, a demo without one skipped with a note)")
    parser.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=None,
                        help="v2a, a2v, with_audio (AR), audio (diffusion), reference (the analyzers on the true "
                             "sounds, their codec round trip and the true clips) (default: all the pipelines run)")
    parser.add_argument("--splits", nargs="+", choices=("seen", "heldout", "all"), default=["seen", "heldout"],
                        help="combinations of the true clips (default: seen heldout)")
    parser.add_argument("--samples-per-combination", type=int, default=1)
    parser.add_argument("--combinations", type=int, default=None, help="only each split's first N combinations (a smoke run)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps (default: the pipeline's)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="guidance scale (default: the pipeline's; v2a and a2v are text-free and unguided)")
    parser.add_argument("--temperature", type=float, default=None, help="AR: sampling temperature (default: 1)")
    parser.add_argument("--top-k", type=int, default=None, help="AR: sample among the k likeliest tokens")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="write the report as JSON here")


def run(args) -> int:
    from genvid.commands.checks import check_options, resolve_device
    from genvid.commands.generate import load_pipeline
    from genvid.eval.sound_eval import evaluate_sound, format_table

    check_options(args, {
        "--samples-per-combination": {"minimum": 1, "maximum": 10000}, "--batch-size": {"minimum": 1},
        "--combinations": {"minimum": 1}, "--num-frames": {"minimum": 1}, "--height": {"minimum": 8},
        "--width": {"minimum": 8}, "--steps": {"minimum": 1, "maximum": 10000}, "--guidance": {"minimum": 0},
        "--temperature": {"minimum": 0}, "--top-k": {"minimum": 1}, "--seed": {},
    })
    pipelines, tasks = sound_pipelines(args.pipeline, args.tasks)
    device = str(resolve_device(args.device))
    reports = {}
    for name, kind, folder in pipelines:
        pipeline = load_pipeline(kind, str(folder), device)
        pipeline.set_progress_bar_config(disable=True)
        options = call_options(args, kind)
        rows = evaluate_sound(pipeline, tasks, args.splits, args.samples_per_combination, args.seed, args.num_frames,
                              args.height, args.width, args.batch_size, args.combinations, **options)
        settings = {name: getattr(args, name) for name in ("samples_per_combination", "combinations", "seed", "batch_size",
                                                           "num_frames", "height", "width")}
        reports[name] = {"pipeline": str(folder), "settings": {**settings, **options}, "rows": rows}
    print(format_table({name: report["rows"] for name, report in reports.items()}))
    if args.output:
        Path(args.output).write_text(json.dumps(reports, indent=1))
    return 0


def call_options(args, kind: str) -> dict:
    """The pipeline options the flags set for a pipeline of ``kind``."""
    options = {"guidance_scale": args.guidance}
    if kind == "diffusion":
        options["num_inference_steps"] = args.steps
    else:
        options.update(temperature=args.temperature, top_k=args.top_k)
    return {name: value for name, value in options.items() if value is not None}


def sound_pipelines(paths: list[str] | None, tasks: list[str] | None):
    """``([(report name, kind, folder)], tasks)``, checked before anything loads: a given folder
    without sound is an error, a shipped demo without it a note; each task asked for by name needs
    a pipeline of its kind."""
    from genvid.commands.checks import has_sound, pipeline_folder
    from genvid.errors import GenvidError
    from genvid.eval.sound_eval import TASKS

    found = []
    if paths:
        for path in paths:
            folder, kind = pipeline_folder(path, None)
            if not has_sound(folder):
                raise GenvidError(f"--pipeline {folder} has no audio codec (it was trained without sound): "
                                  "genvid eval sound needs a pipeline trained with audio")
            found.append((kind, folder))
    else:
        for kind in ("ar", "diffusion"):
            folder, _ = pipeline_folder(None, kind)
            if has_sound(folder):
                found.append((kind, folder))
            else:
                print(f"skipped {folder}: the shipped {kind} demo has no audio codec yet")
        if not found:
            raise GenvidError("no shipped demo has an audio codec yet: pass --pipeline FOLDER (a pipeline trained with sound)")
    kinds = [kind for kind, _ in found]
    for task in tasks or ():
        if TASKS[task] is not None and TASKS[task] not in kinds:
            raise GenvidError(f"--tasks {task} needs {'an AR' if TASKS[task] == 'ar' else 'a diffusion'} pipeline with "
                              "an audio codec; none was given")
    names = [kind if kinds.count(kind) == 1 else f"{kind} {folder}" for kind, folder in found]
    return [(name, kind, folder) for name, (kind, folder) in zip(names, found)], list(tasks or TASKS)
