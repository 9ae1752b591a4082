"""A clip's phase (synthetic clips starting along their wrapping path) coupled with what the AR
LM learns from it: continuation batches only (task_options.phased_clips_continue_only). The DiT's
coupling (prefix_for_phased_clips) is tested with its other draws in tests/test_dit_long_keyframes_v2v.py."""

import pytest
import torch

from genvid.config import ConfigError
from genvid.data import DataConfig, build_dataset, collate_videos
from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask
from tests.test_ar_tasks import TOKENIZER_CONFIG

DATA = DataConfig(source="synthetic", num_samples=8, num_frames=5, height=16, width=16, travel_frames=5,
                  phase_probability=0.5)
MODEL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "max_sequence_length": 64}


def lm_task(weights, **options):
    task = LanguageModelTask(dict(MODEL), LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8,
                                                               text_dropout=0.0, task_weights=weights, **options), DATA)
    torch.manual_seed(0)  # the same (random, tiny) frozen tokenizer for every task built here
    task.setup("cpu")
    return task


def loss_of(task, model, batch):
    return task.training_step(model, batch, 0, torch.Generator().manual_seed(0))[0]


def test_phased_clips_are_learnt_from_in_continuation_batches_only():
    text_to_video = {"t2v": 1.0, "continue": 1e-12}  # continuation allowed, never drawn
    plain, coupled = lm_task(text_to_video), lm_task(text_to_video, phased_clips_continue_only=True)
    model = plain.build_model()
    batch = collate_videos([build_dataset(DATA)[index] for index in range(8)])
    phased = torch.tensor(batch["phase"]) != 0
    assert 0 < int(phased.sum()) < 8
    unphased_rows = {key: [value for value, keep in zip(values, (~phased).tolist()) if keep]
                     for key, values in batch.items() if key != "video"}
    unphased_rows["video"] = batch["video"][~phased]
    without_phase = {key: value for key, value in batch.items() if key != "phase"}
    # off: the phase changes nothing; on, text-to-video: the loss of the phase-0 clips alone
    assert torch.equal(loss_of(plain, model, batch), loss_of(plain, model, without_phase))
    torch.testing.assert_close(loss_of(coupled, model, batch), loss_of(plain, model, unphased_rows))
    # a batch of phased clips alone: no text-to-video loss, every parameter still in the graph
    all_phased = {key: [value for value, keep in zip(values, phased.tolist()) if keep]
                  for key, values in batch.items() if key != "video"}
    all_phased["video"] = batch["video"][phased]
    nothing = loss_of(coupled, model, all_phased)
    assert float(nothing.detach()) == 0.0
    nothing.backward()
    assert all(parameter.grad is not None for parameter in model.parameters() if parameter.requires_grad)
    # continuation batches learn from every clip, phased or not
    continuation = {"continue": 1.0, "t2v": 1e-12}
    assert torch.equal(loss_of(lm_task(continuation, phased_clips_continue_only=True), model, batch),
                       loss_of(lm_task(continuation), model, batch))
    with pytest.raises(ConfigError, match="phase in the batch"):
        loss_of(coupled, model, without_phase)


def test_coupling_without_phases_or_continuation_is_a_config_error():
    options = dict(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8, phased_clips_continue_only=True)
    with pytest.raises(ConfigError, match="data.phase_probability"):
        LanguageModelTask(dict(MODEL), LanguageModelOptions(**options), DataConfig(num_frames=5, height=16, width=16))
    with pytest.raises(ConfigError, match="task_weights.continue"):
        LanguageModelTask(dict(MODEL), LanguageModelOptions(**options, task_weights={"t2v": 1.0}), DATA)
