"""What the DiT and LM training tasks share (genvid.training.tasks.generator): previews in eval
mode for both, and the frozen tokenizer named by path or as a shipped one."""

from types import SimpleNamespace

import pytest
import torch

from genvid.config import ConfigError
from genvid.data import DataConfig, read_video
from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask
from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

DATA = DataConfig(source="synthetic", num_samples=2, num_frames=5, height=16, width=16)
RANDOM_TOKENIZER = {"bottleneck": "fsq", "fsq_levels": [4, 4], "base_channels": 8}


class RecordingPipeline:
    """Stands in for the task's pipeline: records the model's mode and the sampling arguments."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def set_progress_bar_config(self, **options):
        pass

    def __call__(self, prompts, **options):
        self.calls.append((self.model.training, options))
        generator = torch.Generator().manual_seed(0)
        return SimpleNamespace(frames=torch.rand(len(prompts), 5, 3, 16, 16, generator=generator))


@pytest.mark.parametrize("task_class, options, own", [
    (DiffusionTask, DiffusionOptions(tokenizer_config=RANDOM_TOKENIZER, preview_steps=3), {"num_inference_steps": 3}),
    (LanguageModelTask, LanguageModelOptions(tokenizer_config=RANDOM_TOKENIZER, preview_top_k=7),
     {"temperature": 1.0, "top_k": 7}),
])
def test_both_previews_sample_in_eval_mode_and_write_clips(task_class, options, own, tmp_path):
    task = task_class({}, options, DATA)
    model = torch.nn.Linear(1, 1).train()
    recorder = RecordingPipeline(model)
    task.pipeline = lambda model: recorder
    task.preview(model, 7, tmp_path, torch.Generator().manual_seed(0))
    (training, arguments), = recorder.calls
    assert not training and model.training  # eval while sampling, restored after
    assert arguments["guidance_scale"] == options.preview_guidance_scale and own.items() <= arguments.items()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "step0000007.png", "step0000007_sample0.mp4", "step0000007_sample1.mp4"]
    assert read_video(tmp_path / "step0000007_sample0.mp4").shape == (3, 5, 16, 16)


def test_a_shipped_tokenizer_is_named_as_pretrained_kind():
    task = DiffusionTask({}, DiffusionOptions(tokenizer="pretrained:gaussian"), DATA)
    task.setup("cpu")
    assert task.video_tokenizer.latent_channels == 16 and not task.video_tokenizer.training


@pytest.mark.parametrize("tokenizer", ["runs/no_such_tokenizer/final", "pretrained:lfq"])
def test_a_missing_tokenizer_is_one_line_naming_the_shipped_ones(tokenizer):
    task = LanguageModelTask({}, LanguageModelOptions(tokenizer=tokenizer), DATA)
    with pytest.raises(ConfigError, match="task_options.tokenizer") as error:
        task.setup("cpu")
    assert "pretrained:gaussian, pretrained:fsq" in str(error.value) and "\n" not in str(error.value)
