"""genvid eval sound (genvid.eval.sound_eval) on tiny untrained pipelines with an audio codec: the
rows of every task, the same figures for the same seed, the analyzers' reference on the true
clips, the one-line refusals, and `genvid eval prompts --sound` (CPU; figures near chance)."""

import json

import pytest
import torch

from genvid.cli import main
from helpers import TINY_SOUND_TOKENIZER, save_tiny_audio_codec
from genvid.eval.sound_eval import TASKS, evaluate_sound

SIZE = dict(num_frames=17, height=16, width=16)  # 17 frames: the audio analyzer reads every true tone
FLAGS = ["--num-frames", "17", "--height", "16", "--width", "16"]
WHAT = {
    "v2a": ["sound for the true clip"],
    "a2v": ["video for the true sound"],
    "audio": ["video for the true sound alone", "video for the true sound and its caption"],
    "with_audio": ["picture for the caption", "its v2a sound", "picture and sound agree"],
    "reference": ["true sound", "true sound through the codec (2 levels)", "true clip"],
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Exported pipelines: an AR and a diffusion one with a 2-level audio codec, and an AR one without."""
    from genvid.data.config import DataConfig
    from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask
    from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

    root = tmp_path_factory.mktemp("sound_pipelines")
    codec = save_tiny_audio_codec(root / "audio_codec")
    tokenizer = TINY_SOUND_TOKENIZER
    data = DataConfig(num_frames=17, height=16, width=16, audio_sample_rate=16000)
    common = dict(tokenizer_config=tokenizer, text_max_length=8)
    # 17x64x64 (genvid eval prompts' size): 8 text + 320 video + 170 audio tokens
    lm = dict(hidden_size=32, num_layers=1, num_heads=2, max_sequence_length=560)
    dit = dict(in_channels=2, hidden_size=32, num_layers=1, num_heads=2)
    for name, task in {
        "ar": LanguageModelTask({**lm, "num_audio_codebooks": 2}, LanguageModelOptions(**common, audio_codec=str(codec)), data),
        "diffusion": DiffusionTask({**dit, "num_audio_codebooks": 2, "audio_attention": "separate"},
                                   DiffusionOptions(**common, audio_codec=str(codec)), data),
        "silent": LanguageModelTask(dict(lm), LanguageModelOptions(**common), data),
    }.items():
        task.export(task.build_model().eval(), root / name)
    return root


def load(folder, kind):
    from genvid.commands.generate import load_pipeline

    pipeline = load_pipeline(kind, str(folder), "cpu")
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def check_rows(rows, tasks, clips):
    assert [(row["task"], row["what"]) for row in rows] == [(task, what) for task in tasks for what in WHAT[task]]
    for row in rows:
        assert row["split"] == "heldout" and row["num_clips"] == clips
        assert row["analyzer"] in ("audio", "video", "both")
        figures = [row[f"{name}_accuracy"] for name in ("color", "shape", "motion")]
        assert all(0 <= value <= 1 for value in figures) and row["all_accuracy"] <= min(figures)


def test_every_task_of_both_pipelines_and_the_same_seed_gives_the_same_figures(folders, tmp_path, capsys):
    ar, diffusion = load(folders / "ar", "ar"), load(folders / "diffusion", "diffusion")
    options = dict(splits=["heldout"], combinations=2, seed=3, batch_size=2, **SIZE)
    rows = {"ar": evaluate_sound(ar, **options), "diffusion": evaluate_sound(diffusion, num_inference_steps=2, **options)}
    check_rows(rows["ar"], ["v2a", "a2v", "with_audio", "reference"], 2)
    check_rows(rows["diffusion"], ["audio", "reference"], 2)
    # the analyzers read the true sounds and clips themselves (the ceiling row): all of them
    for model in rows.values():
        for row in model:
            if row["what"] in ("true sound", "true clip"):
                assert row["all_accuracy"] == 1.0, row
    # agreement counts an attribute only where the picture and the sound both read it right
    by_what = {row["what"]: row for row in rows["ar"]}
    for name in ("color", "shape", "motion", "all"):
        key = f"{name}_accuracy"
        assert by_what["picture and sound agree"][key] <= min(by_what["picture for the caption"][key],
                                                              by_what["its v2a sound"][key])

    # the command, with the same seed and batches: the same figures, as JSON and a table
    output = tmp_path / "sound.json"
    assert main(["eval", "sound", "--pipeline", str(folders / "ar"), str(folders / "diffusion"), "--splits", "heldout",
                 "--combinations", "2", "--seed", "3", "--batch-size", "2", "--steps", "2", *FLAGS,
                 "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert {model: report[model]["rows"] for model in report} == rows
    assert report["ar"]["pipeline"] == str(folders / "ar")
    assert report["diffusion"]["settings"] == {"samples_per_combination": 1, "combinations": 2, "seed": 3, "batch_size": 2,
                                               "num_frames": 17, "height": 16, "width": 16, "num_inference_steps": 2}
    table = capsys.readouterr().out
    assert "| ar | v2a | heldout | sound for the true clip | audio | 2 |" in table
    assert "| diffusion | audio | heldout | video for the true sound alone | video | 2 |" in table


def test_a_pipeline_without_sound_is_refused_in_one_line_and_a_demo_without_it_skipped(folders, capsys, monkeypatch):
    assert main(["eval", "sound", "--pipeline", str(folders / "silent")]) == 2
    error = capsys.readouterr().err.strip()
    assert "has no audio codec" in error and "\n" not in error
    assert main(["eval", "sound", "--pipeline", str(folders / "ar"), "--tasks", "audio"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--tasks audio needs a diffusion pipeline" in error and "\n" not in error
    # the default: the shipped demos, one without sound skipped with a note
    shipped = {"ar": folders / "silent", "diffusion": folders / "diffusion"}
    monkeypatch.setattr("genvid.demo.demo_path", lambda kind: shipped[kind])
    assert main(["eval", "sound", "--tasks", "reference", "--splits", "heldout", "--combinations", "1", *FLAGS]) == 0
    out = capsys.readouterr().out
    assert f"skipped {folders / 'silent'}: the shipped ar demo has no audio codec yet" in out
    assert "| diffusion | reference | heldout | true sound | audio | 1 | 100.0% | 100.0% | 100.0% | 100.0% |" in out
    assert "| ar |" not in out
    from genvid.commands.eval.sound import TASK_NAMES

    assert tuple(TASKS) == TASK_NAMES and sorted(TASKS) == sorted(WHAT)


def test_eval_prompts_with_sound_appends_the_sound_rows(folders, tmp_path, capsys):
    output = tmp_path / "prompts.json"
    assert main(["eval", "prompts", "--pipeline", str(folders / "ar"), "--splits", "heldout", "--sound",
                 "--output", str(output)]) == 0
    report = json.loads(output.read_text())["ar"]
    names = [f"heldout / {task}: {what}" for task in ("v2a", "a2v", "with_audio", "reference") for what in WHAT[task]]
    assert list(report) == ["heldout", *names]
    assert all(report[name]["num_clips"] == 8 for name in report)
    assert report["heldout / reference: true sound"]["all_accuracy"] == 1.0
    assert "| ar | heldout / v2a: sound for the true clip | 8 |" in capsys.readouterr().out
