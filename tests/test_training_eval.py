"""training.eval_every: the loop evaluates the model it trains and logs the figures."""

import json
from pathlib import Path

import pytest

from genvid.config import ConfigError, load_config
from genvid.training.loop import build_task, train

CONFIG = Path(__file__).parents[1] / "configs" / "tokenizer" / "tiny_fsq.yaml"
EVAL = {"kind": "tokenizer", "heldout": "synthetic", "max_clips": 2, "num_frames": 5, "height": 32, "width": 32}


def overrides(tmp_path, *extra):
    return [
        f"training.output_dir={tmp_path / 'run'}", "training.max_steps=4", "training.batch_size=1",
        "training.warmup_steps=0", "training.checkpoint_every=0", "training.preview_every=0", "training.log_every=1",
        "training.report_to=tensorboard", "training.eval_every=2", "data.num_frames=5", "data.height=32",
        "data.width=32", "data.num_samples=4", "task_options.use_discriminator=false",
        "task_options.latent_statistics_batches=0", "model.base_channels=8",
        *(f"training.eval.{key}={value}" for key, value in EVAL.items()), *extra,
    ]


def test_eval_every_logs_the_trained_models_figures(tmp_path):
    from tokenizer import VideoTokenizer

    from genvid.eval.tokenizer_eval import heldout_clips, summarize

    summary = train(load_config(CONFIG, overrides(tmp_path)))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evaluated = [record for record in records if "eval/psnr" in record]
    assert [record["step"] for record in evaluated] == [2, 4]
    assert all({"eval/ssim", "eval/codebook_usage", "eval/codebook_perplexity"} <= set(record) for record in evaluated)
    assert evaluated[0]["eval/psnr"] != evaluated[1]["eval/psnr"]  # measured on the weights of that step
    # The figure at the last step is the exported model's, on the same held-out clips.
    final = VideoTokenizer.from_pretrained(summary["export"]).eval()
    named = heldout_clips("synthetic", 5, 32, 32)[:2]
    expected, _ = summarize(final, (clip for _, clip in named))
    assert evaluated[1]["eval/psnr"] == pytest.approx(expected["psnr"], abs=1e-4)
    assert evaluated[1]["eval/ssim"] == pytest.approx(expected["ssim"], abs=1e-5)
    # ...and tensorboard has it too.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [path for path in (tmp_path / "run").rglob("events.out.tfevents.*")]
    assert events
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert "eval/psnr" in tags and [event.step for event in accumulator.Scalars("eval/psnr")] == [2, 4]


def test_eval_settings_are_checked_before_training(tmp_path):
    with pytest.raises(ConfigError, match="training.eval.*max_clip"):
        build_task(load_config(CONFIG, overrides(tmp_path, "training.eval.max_clip=3")))
    with pytest.raises(ConfigError, match="kind must be one of"):
        build_task(load_config(CONFIG, overrides(tmp_path, "training.eval.kind=fid")))


def test_prompts_eval_on_a_tokenizer_task_says_what_to_use(tmp_path):
    from genvid.training.evaluation import EvaluationOptions, TrainingEvaluator

    task, _, _ = build_task(load_config(CONFIG, overrides(tmp_path)))
    model = task.build_model()
    with pytest.raises(ConfigError, match="generator task"):
        TrainingEvaluator(EvaluationOptions(kind="prompts"))(task, model)
    assert model.training  # the evaluator hands the model back in training mode


def test_prompts_eval_scores_a_generator_tasks_pipeline(tmp_path):
    from test_dit_task import make_task
    from test_eval_learned import _tiny_clip

    from genvid.training.evaluation import EvaluationOptions, TrainingEvaluator

    clip, clip_tokenizer = _tiny_clip()
    clip.save_pretrained(tmp_path / "clip")
    clip_tokenizer.save_pretrained(tmp_path / "clip")
    task = make_task()
    model = task.build_model()
    options = EvaluationOptions(kind="prompts", split="heldout", max_clips=2, num_inference_steps=2,
                                clip_model=str(tmp_path / "clip"))
    evaluator = TrainingEvaluator(options)
    figures = evaluator(task, model)
    assert {"eval/color_accuracy", "eval/shape_accuracy", "eval/motion_accuracy", "eval/all_accuracy",
            "eval/clipsim"} == set(figures)
    assert all(0 <= figures[f"eval/{key}_accuracy"] <= 1 for key in ("color", "shape", "motion", "all"))
    assert -1 <= figures["eval/clipsim"] <= 1 and model.training
    assert evaluator(task, model) == figures  # seeded sampling: the same weights give the same figures
