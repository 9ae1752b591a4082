"""genvid eval prompts: does a pipeline draw what its prompt asks for?

Generates clips for every colour x shape x motion of the synthetic vocabulary, reads each back
with genvid.eval.analyzer and prints per-attribute accuracy for the combinations seen in training
and the held-out ones; --wording heldout adds rows for prompts in words the captions never use.
With --clip-model it also reports CLIPSIM of the clips against their
prompts; with --feature-model, FVD between the generated clips and the synthetic set's own
renders of the same combinations. --sound appends the rows of ``genvid eval sound`` (the audio
tasks of a pipeline with an audio codec) for the same splits. --report writes an HTML page: the table, those metrics, and one
animated clip per prompt with what the analyzer read from it.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "prompt-following accuracy of a pipeline on the synthetic vocabulary (+ CLIPSIM / FVD)"


def add_arguments(parser) -> None:
    parser.add_argument("--model", choices=("diffusion", "ar", "both"), default=None,
                        help="which generator (default: what --pipeline holds, else both shipped demos); with "
                             "--pipeline it only checks the folder's kind")
    parser.add_argument("--pipeline", default=None,
                        help="a pipeline folder; its model_index.json says diffusion or ar (default: the shipped demos)")
    parser.add_argument("--splits", nargs="+", choices=("seen", "heldout", "all", "blicket", "blicket_heldout"),
                        default=["seen", "heldout"],
                        help="which combinations: seen (in training), heldout (never seen), all, or the new colour "
                             "word of configs/dit/demo_lora.yaml (blicket, blicket_heldout) (default: seen heldout)")
    parser.add_argument("--lora", action="append", default=[], metavar="PATH[:SCALE]",
                        help="evaluate with this LoRA adapter loaded (repeatable)")
    parser.add_argument("--quantize", choices=("int8", "int8_dynamic"), default=None,
                        help="quantize the transformer with torchao first")
    parser.add_argument("--wording", nargs="+", choices=("canonical", "heldout", "dev"), default=["canonical"],
                        help="prompt wording: canonical (the training captions' words) and/or heldout "
                             "(genvid.eval.wordings: synonyms and sentence forms no caption uses), dev (the "
                             "development set genvid.eval.dev_wordings, disjoint from both)")
    import argparse

    parser.add_argument("--read-prompt", action=argparse.BooleanOptionalAction, default=None,
                        help="prompt reading (genvid.pipelines.prompt_reading) on or off (default: the pipeline's "
                             "read_prompts)")
    parser.add_argument("--sound", action="store_true",
                        help="also the rows of genvid eval sound (v2a, a2v, the audio-conditioned DiT, --with-audio, "
                             "the analyzers' reference) for the same splits, for a pipeline with an audio codec")
    parser.add_argument("--samples-per-combination", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--clip-model", default=None, help="a transformers CLIPModel folder: also report CLIPSIM")
    parser.add_argument("--feature-model", default=None, help="a transformers VideoMAE folder: also report FVD against renders")
    parser.add_argument("--device", default=None)
    parser.add_argument("--output", default=None, help="write the report as JSON here")
    parser.add_argument("--report", default=None, help="write an HTML report: out.html, or a folder for index.html")


def run(args) -> int:
    from genvid.commands.checks import resolve_device
    from genvid.errors import GenvidError

    if {"heldout", "dev"} & set(args.wording) and any(split.startswith("blicket") for split in args.splits):
        raise GenvidError("--wording heldout / dev cover the synthetic colours only, not the blicket splits")
    models = checked_models(args)
    device = str(resolve_device(args.device))

    from genvid.commands.generate import load_pipeline
    from genvid.eval.analyzer import evaluate_prompt_following
    from genvid.eval.prompts_eval import format_table, generate_splits, learned_metrics, load_learned_models

    reports, generations, metrics = {}, {}, {}
    scorer, feature_model = load_learned_models(args.clip_model, args.feature_model, device)
    for model, folder in models:
        pipeline = load_pipeline(model, str(folder), device)
        if args.lora:
            from genvid.pipelines.lora import load_adapters

            load_adapters(pipeline, args.lora)
        if args.quantize:
            pipeline.quantize(args.quantize)
        options = {}
        if args.guidance is not None:
            options["guidance_scale"] = args.guidance
        if model == "diffusion" and args.steps is not None:
            options["num_inference_steps"] = args.steps
        if args.read_prompt is not None:
            options["read_prompt"] = args.read_prompt
        generated = generate_splits(pipeline, args.splits, args.samples_per_combination, args.batch_size,
                                    args.seed, args.wording, **options)
        reports[model] = {split: evaluate_prompt_following(clips, labels) for split, (labels, clips) in generated.items()}
        metrics[model] = learned_metrics(generated, scorer, feature_model)
        generations[model] = generated
        for split, values in metrics[model].items():
            reports[model][split].update(values)
        if args.sound:
            reports[model].update(sound_rows(pipeline, folder, args, options))
    print(format_table(reports))
    for model, splits in metrics.items():
        for split, values in splits.items():
            if values:
                print(f"{model} {split}: " + "  ".join(f"{name} {value:.4f}" for name, value in values.items()))
    if args.output:
        Path(args.output).write_text(json.dumps(reports, indent=1))
    if args.report:
        print(f"report: {write_report(args.report, reports, generations)}")
    return 0


def sound_rows(pipeline, folder, args, options: dict) -> dict:
    """--sound: genvid eval sound's rows for ``args.splits`` (none, with a note, for a pipeline
    without an audio codec), named for this table (genvid.eval.sound_eval.row_name)."""
    from genvid.commands.checks import has_sound
    from genvid.eval.sound_eval import evaluate_sound, prompts_rows

    if not has_sound(folder):
        print(f"--sound: skipped {folder}: it has no audio codec")
        return {}
    pipeline.set_progress_bar_config(disable=True)
    rows = evaluate_sound(pipeline, splits=args.splits, samples_per_combination=args.samples_per_combination,
                          seed=args.seed, batch_size=args.batch_size, **options)
    return prompts_rows(rows)


def checked_models(args) -> list:
    """``[(kind, folder)]`` to evaluate, every option checked before a pipeline loads: the kind of a
    ``--pipeline`` folder comes from its model_index.json and ``--model`` only checks it."""
    from genvid.commands.checks import check_adapters, check_options, local_folder, pipeline_folder
    from genvid.errors import GenvidError

    check_options(args, {
        "--samples-per-combination": {"minimum": 1, "maximum": 10000}, "--batch-size": {"minimum": 1},
        "--steps": {"minimum": 1, "maximum": 10000}, "--guidance": {"minimum": 0}, "--seed": {},
    })
    check_adapters(args.lora)
    for option, folder in (("--clip-model", args.clip_model), ("--feature-model", args.feature_model)):
        if folder is not None:
            local_folder(folder, option, "transformers model")
    if args.pipeline is not None:
        if args.model == "both":
            raise GenvidError("--pipeline is one pipeline: drop --model both (its model_index.json says which kind)")
        return [pipeline_folder(args.pipeline, args.model)[::-1]]
    kinds = ("diffusion", "ar") if args.model in (None, "both") else (args.model,)
    return [(kind, pipeline_folder(None, kind)[0]) for kind in kinds]


def write_report(target, reports, generations):
    from genvid.data.synthetic import caption_for
    from genvid.eval.analyzer import analyze_clip
    from genvid.eval.report import Report

    report = Report(target, "Generator evaluation: prompt following")
    report.heading("Prompt following")
    report.note("The analyzer reads colour, shape and motion back from each generated clip; 'all three' counts "
                "clips where every attribute matches the prompt. 'seen' combinations were in the training set, "
                "'heldout' ones never were. CLIPSIM: mean per-frame CLIP image-text cosine (higher is better); "
                "FVD: Fréchet distance of VideoMAE features to renders of the same prompts (lower is better).")
    extra = sorted({name for splits in reports.values() for values in splits.values() for name in values} -
                   {"num_clips", "color_accuracy", "shape_accuracy", "motion_accuracy", "all_accuracy"})
    headers = ["model", "split", "clips", "colour", "shape", "motion", "all three", *extra]
    rows = []
    for model, splits in reports.items():
        for split, values in splits.items():
            rows.append([model, split, values["num_clips"], *(f"{values[f'{key}_accuracy']:.1%}" for key in
                         ("color", "shape", "motion", "all")), *(values.get(name, "") for name in extra)])
    report.table(headers, rows)
    for model, generated in generations.items():
        for split, (labels, clips) in generated.items():
            report.heading(f"{model}: {split} prompts")
            report.begin_grid()
            for label, clip in zip(labels, clips):
                found = analyze_clip(clip)
                reading = ", ".join(
                    f"{found[key] or '?'}{'' if found[key] == wanted else ' ✗'}"
                    for key, wanted in zip(("color", "shape", "motion"), label)
                )
                report.animation(clip, f"{caption_for(*label)} — read: {reading}")
            report.end_grid()
    return report.write()
