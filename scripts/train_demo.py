#!/usr/bin/env python
"""Train the demo models that ship inside genvid, from scratch, on the synthetic set.

    python scripts/train_demo.py --output runs/demo            # train + evaluate
    python scripts/train_demo.py --output runs/demo --install  # ... then copy into genvid/demo/

Stages (each through the one training loop, each resumable: a finished stage is skipped, an
interrupted one continues from its newest checkpoint):

1. one FSQ tokenizer: its ids feed the LM and its quantized latents (continuous values on the FSQ
   grid) feed the DiT, so one tokenizer serves both generators. Three runs: single frames first
   (configs/tokenizer/demo_images.yaml: shape is learnt per frame, at a ninth of a clip's cost),
   then 9-frame clips from those weights (configs/tokenizer/demo.yaml), then the decoder alone on
   17-frame clips, the encoder and so the tokens kept (configs/tokenizer/demo_decoder.yaml)
2. the DiT on the tokenizer's latents: configs/dit/demo.yaml, then its few-step student
   (configs/dit/demo_distill.yaml: from the DiT's weights (the round-2 DiT of ``tasks`` when it
   exists), trained at its sampler's 8 levels on the teacher's guided ODE over each step; the
   pipeline samples it in 8 steps of one transformer evaluation each)
3. the LM on the tokenizer's ids, in two runs: 4000 clips seen many times (configs/lm/demo.yaml),
   then from those weights on clips it has never seen (configs/lm/demo_fresh.yaml)
   Later stages, run alone (--only): ``tasks`` is round 2 of both shipped demos, one fine-tune
   per generator from the shipped weights (configs/{dit,lm}/demo_tasks.yaml: long video, keyframes
   and the editing tasks, prompts in the richer caption grammar), measured in canonical and
   held-out wording beside the shipped pipeline; ``sound`` trains the audio codec
   (configs/audio/demo_codec_harmonic.yaml), then a DiT following sound and an LM with v2a / a2v in its
   mixture (configs/{dit,lm}/demo_sound.yaml); ``long`` fine-tunes the installed demos for long
   video (configs/dit/demo_long2.yaml, configs/lm/demo_long.yaml: clips wrapping around the frame,
   starting anywhere along their path), measured window by window on 129-frame clips
   (OUTPUT/long_report.json).
4. evaluation: tokenizer PSNR/SSIM on held-out synthetic clips, prompt following of both
   pipelines (seen vs held-out combinations), CPU generate time; written to OUTPUT/report.json.

Same seed, same models (within floating-point noise). Extra ``key=value`` arguments after ``--``
are OmegaConf overrides applied to every stage (e.g. ``-- training.max_steps=100`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DEMO_ROOT = ROOT / "genvid" / "demo"


#: the stages whose steps ``--<stage>-steps`` sets (training.max_steps; stage_overrides) -> what they train
STAGE_STEPS = {
    "tokenizer_images": "the tokenizer's single-frame stage",
    "tokenizer": "the tokenizer's video stage",
    "tokenizer_decoder": "the tokenizer's decoder stage",
    "dit": "the DiT stage",
    "dit_distill": "the guidance distillation",
    "lm": "the first LM stage",
    "lm_fresh": "the LM stage on new clips",
    "dit_tasks": "the DiT round-2 stage",
    "lm_tasks": "the LM round-2 stage",
    "audio_codec": "the audio codec stage",
    "dit_sound": "the DiT stage with sound",
    "lm_sound": "the LM stage with sound",
    "lm_sound2": "the LM's second stage with sound",
    "dit_long2": "the DiT long-video stage",
    "lm_long": "the LM long-video stage",
}


def stage_overrides(name: str, output: Path, args) -> list[str]:
    overrides = [f"training.output_dir={output / name}", f"training.seed={args.seed}"]
    steps = getattr(args, f"{name}_steps", None)
    if steps:
        overrides.append(f"training.max_steps={steps}")
    return overrides


def run_stage(name: str, config: Path, overrides: list[str], output: Path) -> Path:
    from genvid.config import load_config
    from genvid.training.loop import train

    final = output / name / "final"
    if any((final / marker).is_file() for marker in ("model_index.json", "config.json")):  # pipeline / tokenizer
        print(f"[demo] {name}: already trained ({final})", flush=True)
        return final
    print(f"[demo] {name}: training with {config} {' '.join(overrides)}", flush=True)
    started = time.perf_counter()
    summary = train(load_config(config, overrides), resume="auto")
    print(f"[demo] {name}: done in {time.perf_counter() - started:.0f} s, final loss {summary['final_loss']:.4f}", flush=True)
    return final


def evaluate_tokenizer(path: Path, num_clips: int = 32) -> dict:
    from tokenizer import VideoTokenizer

    from genvid.data import SyntheticVideoDataset
    from genvid.eval.analyzer import evaluate_prompt_following
    from genvid.eval.metrics import codebook_usage, psnr, ssim

    tokenizer = VideoTokenizer.from_pretrained(path).eval()
    dataset = SyntheticVideoDataset(split="heldout", num_samples=num_clips, seed=12345)
    videos = torch.stack([dataset[index]["video"] for index in range(num_clips)])
    report = {}
    with torch.no_grad():
        latents = tokenizer.encode(videos)
        reconstruction = tokenizer.decode(latents).clamp(-1, 1)
        report["psnr"] = float(psnr(reconstruction, videos))
        report["ssim"] = float(ssim(reconstruction, videos))
        # what the analyzer still reads after the round trip: the ceiling for both generators
        captions = [dataset[index]["caption"] for index in range(num_clips)]
        reading = evaluate_prompt_following(list(reconstruction), captions)
        report.update({f"reconstruction_{key}": value for key, value in reading.items() if key.endswith("accuracy")})
        if tokenizer.is_discrete:
            usage, perplexity = codebook_usage(tokenizer.tokenize(videos), tokenizer.codebook_size)
            report.update(codebook_usage=usage, codebook_perplexity=perplexity)
    return report


def time_generation(model: str, pipeline_path: Path, repeats: int = 3) -> float:
    """Median wall time (s) of one 17-frame 64x64 generation with the CLI's defaults, CPU."""
    from genvid.commands.generate import load_pipeline

    pipeline = load_pipeline(model, str(pipeline_path), "cpu")
    pipeline.set_progress_bar_config(disable=True)
    times = []
    for seed in range(repeats):
        started = time.perf_counter()
        pipeline("a red circle moving left", generator=torch.Generator().manual_seed(seed))
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def install(source: Path, name: str, root: Path = DEMO_ROOT, audio_codec: Path | None = None) -> None:
    """Copy a pipeline into ROOT/NAME (genvid/demo/NAME by default) with the summary of the
    captions the demos train on (genvid.eval.far_prompts.demo_captions: the basic and the rich
    grammar's) that genvid generate's far-prompt line reads, and the caption words its prompt
    reading compares with. ``audio_codec``: a saved AudioCodec
    folder put in as the pipeline's ``audio_codec`` component (the one its transformer was
    trained on), replacing any the pipeline had."""
    from genvid.eval.far_prompts import demo_captions
    from genvid.known_prompts import DEFAULT_THRESHOLD, synthetic_vocabulary, write_known_captions
    from genvid.text import TextEncoder

    target = Path(root) / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.tmp"))
    if audio_codec is not None:
        add_audio_codec(target, Path(audio_codec))
    encoder = TextEncoder.from_pretrained(target / "text_encoder")
    write_known_captions(target, encoder, demo_captions(), synthetic_vocabulary(), DEFAULT_THRESHOLD)
    # the prompt reading's word states (genvid.pipelines.prompt_reading); read_prompts in
    # model_index.json stays the export's (off) until measured for the new generator
    from genvid.errors import GenvidError
    from genvid.pipelines.prompt_reading import synthetic_word_examples, write_caption_words

    try:
        write_caption_words(target, encoder, synthetic_word_examples())
    except GenvidError as error:  # e.g. a text encoder too short to hold the captions' words
        print(f"[demo] no prompt reading in {target}: {error}", flush=True)
    print(f"[demo] installed {source} -> {target}", flush=True)


def copy_audio_codec(codec: Path, target: Path) -> None:
    """Copy the saved AudioCodec folder ``codec`` to ``target``, replacing what is there."""
    if not (codec / "config.json").is_file():
        raise SystemExit(f"[demo] no trained audio codec at {codec} (config.json missing)")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(codec, target, ignore=shutil.ignore_patterns("*.tmp"))


def add_audio_codec(pipeline: Path, codec: Path) -> None:
    """Put the saved AudioCodec ``codec`` into the pipeline folder as its ``audio_codec``."""
    index_path = pipeline / "model_index.json"
    index = json.loads(index_path.read_text())
    if "audio_codec" not in index:
        raise SystemExit(f"[demo] {pipeline} is a pipeline without an audio_codec component")
    copy_audio_codec(codec, pipeline / "audio_codec")
    index["audio_codec"] = ["tokenizer.audio_codec", "AudioCodec"]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def install_audio_codec(codec: Path, root: Path = DEMO_ROOT) -> None:
    """Copy a trained AudioCodec folder to ROOT/audio_codec, the codec the sound stages start from."""
    copy_audio_codec(codec, Path(root) / "audio_codec")
    print(f"[demo] installed {codec} -> {Path(root) / 'audio_codec'}", flush=True)


#: the sound fine-tunes of each shipped demo, in order (each later stage starts from the one before)
SOUND_STAGES = {
    "diffusion": [("dit_sound", "dit/demo_sound.yaml")],
    "ar": [("lm_sound", "lm/demo_sound.yaml"), ("lm_sound2", "lm/demo_sound2.yaml")],
}


def sound_stage(args, output: Path, configs: Path) -> int:
    """The harmonic audio codec (configs/audio/demo_codec_harmonic.yaml; the waveform codec of
    demo_codec.yaml lost the shapes' timbre): the shipped one (genvid/demo/audio_codec) unless
    --retrain-codec or none is shipped, then fine-tunes of the shipped demos that take sound
    (configs/{dit,lm}/demo_sound.yaml, from genvid/demo/{diffusion,ar}, the new audio weights
    initialised anew; the LM then goes on with configs/lm/demo_sound2.yaml: SOUND_STAGES); with
    --install each goes to --install-root with the codec in it (and a retrained codec to
    --install-root/audio_codec)."""
    codec = DEMO_ROOT / "audio_codec"
    if args.retrain_codec or not (codec / "config.json").is_file():
        overrides = stage_overrides("audio_codec_harmonic", output, args)
        if args.audio_codec_steps:
            overrides.append(f"training.max_steps={args.audio_codec_steps}")
        codec = run_stage("audio_codec_harmonic", configs / "audio" / "demo_codec_harmonic.yaml",
                          overrides + args.overrides, output)
        if args.install:
            install_audio_codec(codec, args.install_root)
    else:
        print(f"[demo] audio codec: the shipped one, {codec} (--retrain-codec trains it anew)", flush=True)
    for name, stages in SOUND_STAGES.items():
        if name not in args.sound_models:
            continue
        trained = None
        for stage, config in stages:
            overrides = stage_overrides(stage, output, args) + [f"task_options.audio_codec={codec}"]
            if trained is not None:  # a later stage goes on from the one before
                overrides.append(f"task_options.initial_weights={trained}")
            trained = run_stage(stage, configs / config, overrides + args.overrides, output)
        if args.install:
            install(trained, name, args.install_root, audio_codec=codec)
    return 0


def fine_tune_stage(args, output: Path, kind: str, stages: dict, models, report_key: str, measure) -> int:
    """Fine-tune each of ``models`` from its shipped weights (``stages``: model -> (stage name,
    config)), then ``measure(pipeline, label) -> dict`` the shipped ("MODEL shipped") and the
    fine-tuned pipeline ("MODEL KIND") alike into OUTPUT/KIND_report.json under ``report_key``
    (resumable: what an interrupted run measured is kept); with --install the fine-tuned one
    replaces the shipped one."""
    from genvid.commands.generate import load_pipeline

    report_path = output / f"{kind}_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report.setdefault(report_key, {})
    report.update(seed=args.seed, command=" ".join(sys.argv))
    for name in models:
        stage, config = stages[name]
        trained = run_stage(stage, config, stage_overrides(stage, output, args) + args.overrides, output)
        summary = output / stage / "train_summary.json"
        if summary.is_file():
            report.setdefault("training", {})[stage] = json.loads(summary.read_text())
        for label, path in ((f"{name} shipped", DEMO_ROOT / name), (f"{name} {kind}", trained)):
            if label in report[report_key]:  # measured by an earlier, interrupted run
                continue
            pipeline = load_pipeline(name, str(path), "cuda" if torch.cuda.is_available() else "cpu")
            pipeline.set_progress_bar_config(disable=True)
            report[report_key][label] = measure(pipeline, label)
            report_path.write_text(json.dumps(report, indent=1))
        if args.install:
            install(trained, name, args.install_root)
    return 0


def tasks_stage(args, output: Path, configs: Path) -> int:
    """Round 2 of the shipped demos (configs/{dit,lm}/demo_tasks.yaml, from the shipped weights),
    then prompt following of the shipped and the fine-tuned pipeline in canonical and held-out
    wording (OUTPUT/tasks_report.json); with --install the fine-tuned one replaces the shipped one."""
    from genvid.eval.analyzer import evaluate_prompt_following
    from genvid.eval.prompts_eval import format_table, generate_splits

    def measure(pipeline, label: str) -> dict:
        generated = generate_splits(pipeline, ("seen", "heldout"), args.eval_samples, seed=args.seed,
                                    wordings=("canonical", "heldout"))
        reading = {split: evaluate_prompt_following(clips, labels) for split, (labels, clips) in generated.items()}
        print(format_table({label: reading}), flush=True)
        return reading

    stages = {"diffusion": ("dit_tasks", configs / "dit" / "demo_tasks.yaml"),
              "ar": ("lm_tasks", configs / "lm" / "demo_tasks.yaml")}
    return fine_tune_stage(args, output, "tasks", stages, args.tasks_models, "prompt_following", measure)


def long_stage(args, output: Path, configs: Path) -> int:
    """Long video (configs/dit/demo_long2.yaml and configs/lm/demo_long.yaml, from the installed
    demo: clips wrapping around the frame at any phase, coupled with the conditioning), then, for
    the installed and the fine-tuned pipeline, 129-frame clips of the held-out combinations read
    window by window (genvid.eval.long_video, what ``genvid eval long --lengths`` without lengths
    measures) and canonical prompt following of 17-frame clips on seen and held-out combinations,
    so that what the demo knew is checked too (OUTPUT/long_report.json)."""
    from genvid.data.synthetic import HELDOUT_COMBINATIONS
    from genvid.eval.analyzer import evaluate_prompt_following
    from genvid.eval.long_video import SEAM_LIMIT, evaluate_long
    from genvid.eval.prompts_eval import format_table, generate_splits

    def measure(pipeline, label: str) -> dict:
        long = evaluate_long(pipeline, HELDOUT_COMBINATIONS, 129, args.eval_samples, seed=args.seed)
        generated = generate_splits(pipeline, ("seen", "heldout"), args.eval_samples, seed=args.seed)
        reading = {split: evaluate_prompt_following(clips, labels) for split, (labels, clips) in generated.items()}
        print(f"[demo] {label}: 129 frames, windows read right: "
              + ", ".join(f"{name} {long[f'{name}_windows']:.1%}" for name in ("color", "shape", "motion", "all"))
              + f"; seams within {SEAM_LIMIT}x: {long.get('seams_within_limit', 1.0):.1%}", flush=True)
        print(format_table({label: reading}), flush=True)
        return {"long_video": long, "prompt_following": reading}

    stages = {"diffusion": ("dit_long2", configs / "dit" / "demo_long2.yaml"),
              "ar": ("lm_long", configs / "lm" / "demo_long.yaml")}
    return fine_tune_stage(args, output, "long", stages, args.long_models, "measured", measure)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="runs/demo", help="folder for the runs and the report")
    parser.add_argument("--seed", type=int, default=0)
    for stage, what in STAGE_STEPS.items():
        parser.add_argument(f"--{stage.replace('_', '-')}-steps", type=int, default=None,
                            help=f"steps of {what} (default: its config's)")
    parser.add_argument("--only", choices=("tokenizer", "dit", "distill", "lm", "eval", "tasks", "sound", "long"),
                        default=None, help="run one stage (tasks: round 2 of the shipped demos, then evaluate; "
                        "sound: the audio codec, then the DiT and LM with sound; long: long video from the "
                        "installed demos, then evaluate)")
    parser.add_argument("--tasks-models", nargs="+", choices=("diffusion", "ar"), default=["diffusion", "ar"],
                        help="with --only tasks: which shipped demos to fine-tune")
    parser.add_argument("--long-models", nargs="+", choices=("diffusion", "ar"), default=["diffusion"],
                        help="with --only long: which installed demos to fine-tune")
    parser.add_argument("--sound-models", nargs="+", choices=("diffusion", "ar"), default=["diffusion", "ar"],
                        help="with --only sound: which shipped demos to fine-tune with sound (after the codec)")
    parser.add_argument("--retrain-codec", action="store_true",
                        help="with --only sound: train the audio codec anew instead of using genvid/demo/audio_codec")
    parser.add_argument("--install", action="store_true", help="copy the trained pipelines into --install-root")
    parser.add_argument("--install-root", type=Path, default=DEMO_ROOT,
                        help="where --install puts the pipelines (default genvid/demo/; another folder for a trial copy)")
    parser.add_argument("--overwrite", action="store_true", help="with --install: replace shipped demo files")
    parser.add_argument("--eval-samples", type=int, default=1, help="clips per combination in the prompt evaluation")
    parser.add_argument("overrides", nargs="*", help="OmegaConf overrides for every stage (after --)")
    args = parser.parse_args(argv)
    if args.install and not args.overwrite and any((args.install_root / name).exists() for name in ("diffusion", "ar")):
        parser.error(f"{args.install_root} already holds demo pipelines; add --overwrite to replace them")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    configs = ROOT / "configs"
    wanted = lambda stage: args.only in (None, stage)  # noqa: E731
    if args.only == "tasks":
        return tasks_stage(args, output, configs)
    if args.only == "long":
        return long_stage(args, output, configs)
    if args.only == "sound":
        return sound_stage(args, output, configs)
    tokenizer = output / "tokenizer_decoder" / "final"
    if wanted("tokenizer"):
        images = run_stage(
            "tokenizer_images", configs / "tokenizer" / "demo_images.yaml",
            stage_overrides("tokenizer_images", output, args) + args.overrides, output,
        )
        overrides = stage_overrides("tokenizer", output, args) + [f"task_options.initial_weights={images}"]
        clips = run_stage("tokenizer", configs / "tokenizer" / "demo.yaml", overrides + args.overrides, output)
        overrides = stage_overrides("tokenizer_decoder", output, args) + [f"task_options.initial_weights={clips}"]
        tokenizer = run_stage(
            "tokenizer_decoder", configs / "tokenizer" / "demo_decoder.yaml", overrides + args.overrides, output
        )
    pipelines = {}
    for name, stage in (("diffusion", "dit"), ("ar", "lm")):
        if wanted(stage):
            overrides = stage_overrides(stage, output, args) + [f"task_options.tokenizer={tokenizer}"]
            pipelines[name] = run_stage(stage, configs / stage / "demo.yaml", overrides + args.overrides, output)
    distilled = output / "dit_distill" / "final"
    if wanted("distill"):
        # the round-2 DiT (--only tasks) when it was trained, else the first stage's
        round_two = output / "dit_tasks" / "final"
        teacher = pipelines.get("diffusion", round_two if (round_two / "model_index.json").is_file() else output / "dit" / "final")
        overrides = stage_overrides("dit_distill", output, args) + [
            f"task_options.tokenizer={tokenizer}", f"task_options.initial_weights={teacher}", f"task_options.teacher={teacher}"
        ]
        distilled = run_stage("dit_distill", configs / "dit" / "demo_distill.yaml", overrides + args.overrides, output)
    if wanted("lm"):
        overrides = stage_overrides("lm_fresh", output, args) + [
            f"task_options.tokenizer={tokenizer}", f"task_options.initial_weights={pipelines['ar']}"
        ]
        pipelines["ar"] = run_stage("lm_fresh", configs / "lm" / "demo_fresh.yaml", overrides + args.overrides, output)
    if not wanted("eval"):
        return 0
    pipelines.setdefault("diffusion", output / "dit" / "final")
    pipelines.setdefault("ar", output / "lm_fresh" / "final")

    from genvid.commands.generate import load_pipeline
    from genvid.eval.prompts_eval import evaluate_pipeline, format_table

    report = {"seed": args.seed, "command": " ".join(sys.argv), "prompt_following": {}, "generate_seconds": {}}
    report["tokenizer"] = evaluate_tokenizer(tokenizer)
    print(f"[demo] tokenizer on held-out synthetic clips (17x64x64): {report['tokenizer']}", flush=True)
    for name, path in pipelines.items():
        pipeline = load_pipeline(name, str(path), "cuda" if torch.cuda.is_available() else "cpu")
        pipeline.set_progress_bar_config(disable=True)
        report["prompt_following"][name] = evaluate_pipeline(pipeline, args.eval_samples, seed=args.seed)
        report["generate_seconds"][name] = time_generation(name, path)
    if (distilled / "model_index.json").is_file():  # its own defaults: 8 steps, no guidance pass
        pipeline = load_pipeline("diffusion", str(distilled), "cuda" if torch.cuda.is_available() else "cpu")
        pipeline.set_progress_bar_config(disable=True)
        report["prompt_following"]["diffusion_distilled"] = evaluate_pipeline(pipeline, args.eval_samples, seed=args.seed)
        report["generate_seconds"]["diffusion_distilled"] = time_generation("diffusion", distilled)
    print(format_table(report["prompt_following"]), flush=True)
    print(f"[demo] CPU generate time (median of 3, 17x64x64): {report['generate_seconds']}", flush=True)
    (output / "report.json").write_text(json.dumps(report, indent=1))
    if args.install:
        for name, path in pipelines.items():
            install(path, name, args.install_root)
        (args.install_root / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
