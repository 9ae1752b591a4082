"""DiffusionTask: the rectified-flow step, text dropout and caching, first-frame conditioning,
export to a loadable pipeline, and the shipped configs."""

from pathlib import Path

import pytest
import torch

from genvid.config import ConfigError, load_config
from genvid.data import DataConfig
from genvid.models.dit import VideoDiffusionTransformer
from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask, flow_matching_loss, sample_noise_levels

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "dit"
TOKENIZER = dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1, num_mid_blocks=1)
MODEL = dict(in_channels=4, hidden_size=32, num_layers=1, num_heads=2, text_hidden_size=384)


def make_task(data=None, **options):
    values = dict(tokenizer_config=TOKENIZER, first_frame_probability=0.5)
    values.update(options)
    task = DiffusionTask(MODEL, DiffusionOptions(**values), data or DataConfig(num_frames=5, height=16, width=16))
    task.setup(torch.device("cpu"))
    return task


@pytest.fixture(scope="module")
def task():
    return make_task()


def synthetic_batch(captions):
    generator = torch.Generator().manual_seed(0)
    return {"video": torch.rand(len(captions), 3, 5, 16, 16, generator=generator) * 2 - 1, "caption": captions}


def test_training_step_gives_a_finite_loss_with_gradients(task):
    model = task.build_model()
    batch = synthetic_batch(["a red circle moving left", "a blue square moving up"])
    loss, logs = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.proj_out.weight.grad.abs().sum() > 0
    assert 0 < logs["noise_level_mean"] < 1
    assert task.tokens_in_batch(batch) == 2 * 2 * 2 * 2  # 2 latent frames of 2 x 2 patches
    assert task.flops_per_sample() > 0
    # Same generator state, same loss: all randomness comes from the generator.
    again, _ = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    assert torch.equal(loss.detach(), again.detach())


def test_text_dropout_uses_the_empty_prompt_and_captions_are_cached():
    task = make_task(text_dropout=1.0)
    model = task.build_model()
    task.training_step(model, synthetic_batch(["a red circle", "a blue square"]), 0, torch.Generator().manual_seed(0))
    assert set(task._text_cache.entries) == {""}
    task = make_task(text_dropout=0.0)
    hidden, mask = task.encode_text(["a red circle", "a much longer caption about a blue square moving"])
    assert hidden.shape[:2] == mask.shape and mask[0].sum() < mask[1].sum()
    direct, direct_mask = task.text_encoder.encode(["a red circle"])
    torch.testing.assert_close(hidden[0, : int(direct_mask.sum())], direct[0, direct_mask[0]])
    assert len(task._text_cache) == 2
    task._text_cache.max_entries = 2
    task.encode_text(["a green triangle"])
    assert list(task._text_cache.entries) == ["a much longer caption about a blue square moving", "a green triangle"]


def test_latents_are_cached_by_clip_content():
    task = make_task(text_dropout=0.0)
    batch = synthetic_batch(["a red circle", "a blue square"])
    calls = []
    encode = task.video_tokenizer.encode
    task.video_tokenizer.encode = lambda video: calls.append(len(video)) or encode(video)
    first = task.encode_video(batch["video"])
    again = task.encode_video(torch.cat([batch["video"][1:], batch["video"]]))
    assert calls == [2]  # the second batch holds only clips seen before
    torch.testing.assert_close(again[1:], first)
    torch.testing.assert_close(first, task.video_tokenizer.normalize_latents(encode(batch["video"])).float())


class Recorder(torch.nn.Module):
    """Stands in for the DiT: records what the loss hands it, predicts a learnable constant."""

    def __init__(self):
        super().__init__()
        self.value = torch.nn.Parameter(torch.zeros(()))

    def forward(self, noisy, timestep, text, mask):
        self.noisy, self.timestep = noisy, timestep
        prediction = self.value.expand_as(noisy).clone()
        return type("Output", (), {"sample": prediction})()


def test_clean_first_frame_is_given_clean_at_level_zero_and_left_out_of_the_loss():
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 3, 4, 4, generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    levels = torch.tensor([0.5, 0.8])
    clean_first = torch.tensor([True, False])
    model = Recorder()
    loss = flow_matching_loss(model, latents, noise, levels, None, None, clean_first)
    torch.testing.assert_close(model.noisy[0, :, 0], latents[0, :, 0])
    torch.testing.assert_close(model.noisy[1, :, 0], 0.2 * latents[1, :, 0] + 0.8 * noise[1, :, 0])
    assert model.timestep.tolist() == [[0.0, 500.0, 500.0], [800.0, 800.0, 800.0]]
    target = (noise - latents).square().mean(dim=(1, 3, 4))  # (batch, frames) error of a zero prediction
    expected = (target[0, 1:].sum() + target[1].sum()) / 5
    torch.testing.assert_close(loss, expected)


def test_noise_level_sampling():
    generator = torch.Generator().manual_seed(0)
    logit = sample_noise_levels(4000, generator, DiffusionOptions(tokenizer="x"))
    uniform = sample_noise_levels(4000, generator, DiffusionOptions(tokenizer="x", timestep_sampling="uniform"))
    shifted = sample_noise_levels(
        4000, generator, DiffusionOptions(tokenizer="x", timestep_sampling="shifted", timestep_shift=3.0)
    )
    for levels in (logit, uniform, shifted):
        assert 0 < levels.min() and levels.max() < 1
    assert abs(logit.mean() - 0.5) < 0.03 and logit.std() < uniform.std()  # concentrated in the middle
    assert shifted.mean() > uniform.mean() + 0.1  # pushed towards noise


def test_export_writes_a_pipeline_that_loads_and_samples(task, tmp_path):
    from genvid.pipelines.diffusion import GenVidDiffusionPipeline

    model = task.build_model()
    task.export(model, tmp_path / "final")
    pipe = GenVidDiffusionPipeline.from_pretrained(tmp_path / "final")
    assert isinstance(pipe.transformer, VideoDiffusionTransformer)
    pipe.set_progress_bar_config(disable=True)
    frames = pipe("a red circle", num_frames=5, height=16, width=16, num_inference_steps=2).frames
    assert frames.shape == (1, 5, 16, 16, 3)


def test_preview_writes_mp4_and_contact_sheet(task, tmp_path):
    task.options.preview_steps = 2
    task.preview(task.build_model(), 7, tmp_path, torch.Generator().manual_seed(0))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "step0000007.png", "step0000007_sample0.mp4", "step0000007_sample1.mp4"
    ]


def test_a_clip_s_phase_couples_with_a_clean_prefix_only_when_asked(task):
    model = task.build_model()
    batch = synthetic_batch(["a red circle moving left", "a blue square moving up"])
    phased_batch = {**batch, "phase": [0.25, 0.5]}
    loss, _ = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    ignored, _ = task.training_step(model, phased_batch, 0, torch.Generator().manual_seed(0))
    assert torch.equal(loss.detach(), ignored.detach())  # option off: a phase changes nothing
    data = DataConfig(num_frames=5, height=16, width=16, phase_probability=0.5)
    coupled = make_task(data, first_frame_probability=0.0, prefix_for_phased_clips=True)
    _, logs = coupled.training_step(model, phased_batch, 0, torch.Generator().manual_seed(0))
    assert logs["first_frame_given"] == 1.0  # every phased clip starts from a clean prefix
    _, logs = coupled.training_step(model, {**batch, "phase": [0.0, 0.0]}, 0, torch.Generator().manual_seed(0))
    assert "first_frame_given" not in logs  # phase 0 with nothing drawn: plain text-to-video
    with pytest.raises(ConfigError, match="phase in the batch"):
        coupled.training_step(model, batch, 0, torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="data.phase_probability"):
        DiffusionTask(MODEL, DiffusionOptions(tokenizer="x", prefix_for_phased_clips=True), DataConfig())
    with pytest.raises(ConfigError, match="prefix_frames_max"):
        DiffusionTask(MODEL, DiffusionOptions(tokenizer="x", prefix_for_phased_clips=True, prefix_frames_max=0), data)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="exactly one of"):
        DiffusionTask(MODEL, DiffusionOptions(), DataConfig())
    with pytest.raises(ConfigError, match="timestep_sampling"):
        DiffusionTask(MODEL, DiffusionOptions(tokenizer="x", timestep_sampling="cosine"), DataConfig())
    with pytest.raises(ConfigError, match="model.in_channels"):
        DiffusionTask({**MODEL, "in_channels": 8}, DiffusionOptions(tokenizer_config=TOKENIZER), DataConfig()).setup("cpu")
    with pytest.raises(ConfigError, match="no saved VideoTokenizer"):
        DiffusionTask(MODEL, DiffusionOptions(tokenizer="/nonexistent"), DataConfig()).setup("cpu")


@pytest.mark.parametrize("preset", ["tiny", "base", "large"])
def test_shipped_configs_validate(preset):
    from genvid.training.loop import build_task

    task, data, training = build_task(load_config(CONFIGS / f"{preset}.yaml"))
    assert isinstance(task, DiffusionTask)
    with pytest.raises(ConfigError, match="task_options.guidance"):
        build_task(load_config(CONFIGS / f"{preset}.yaml", ["task_options.guidance=3"]))
    with pytest.raises(ConfigError, match="model.depth"):
        build_task(load_config(CONFIGS / f"{preset}.yaml", ["model.depth=3"]))


def test_two_steps_of_the_training_loop_then_export(tmp_path):
    from genvid.pipelines.diffusion import GenVidDiffusionPipeline
    from genvid.training.loop import train

    overrides = [
        f"training.output_dir={tmp_path / 'run'}", "training.max_steps=2", "training.batch_size=2",
        "training.checkpoint_every=0", "training.preview_every=0", "training.report_to=none", "training.log_every=1",
        "data.num_frames=5", "data.height=16", "data.width=16", "data.num_samples=8",
        "task_options.tokenizer=null", f"task_options.tokenizer_config={TOKENIZER}".replace("'", ""),
        *(f"model.{key}={value}" for key, value in MODEL.items()),
    ]
    summary = train(load_config(CONFIGS / "tiny.yaml", overrides))
    assert summary["steps"] == 2 and summary["final_loss"] > 0
    pipe = GenVidDiffusionPipeline.from_pretrained(summary["export"])
    assert pipe.transformer.config.hidden_size == 32


def test_initial_weights_start_from_an_exported_pipeline(task, tmp_path):
    from genvid.errors import GenvidError

    trained = task.build_model()
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.25)
    task.export(trained, tmp_path / "final")
    started = make_task(initial_weights=str(tmp_path / "final")).build_model()
    for name, tensor in trained.state_dict().items():
        assert torch.equal(started.state_dict()[name], tensor), name
    other = DiffusionTask({**MODEL, "hidden_size": 64}, DiffusionOptions(tokenizer_config=TOKENIZER, initial_weights=str(tmp_path / "final")),
                          DataConfig(num_frames=5, height=16, width=16))
    with pytest.raises(GenvidError, match="does not match the model section"):
        other.build_model()


def test_guidance_distillation_student_approaches_the_teachers_guided_velocity(tmp_path):
    torch.manual_seed(0)
    teacher = VideoDiffusionTransformer(**MODEL)
    with torch.no_grad():  # past AdaLN-zero's zero start, so the teacher's two streams differ
        for parameter in teacher.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(std=0.1)
    teacher.save_pretrained(tmp_path / "teacher" / "transformer")
    task = make_task(teacher=str(tmp_path / "teacher"), guidance_distillation_scale=3.0, text_dropout=1.0,
                     first_frame_probability=0.0)
    model = task.build_model()
    batch = synthetic_batch(["a red circle moving left", "a blue square moving up"])
    latents = task.encode_video(batch["video"])
    text, mask = task.encode_text(batch["caption"])
    guided = task.guided_teacher_velocity(text, mask)
    probe = torch.randn(latents.shape, generator=torch.Generator().manual_seed(1))
    timesteps = torch.full((2, latents.shape[2]), 500.0)

    def distance():
        with torch.no_grad():
            return float((model(probe, timesteps, text, mask).sample - guided(probe, timesteps)).pow(2).mean())

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    before, losses = distance(), []
    for step in range(60):
        loss, _ = task.training_step(model, batch, step, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert set(task._text_cache.entries) == {"", *batch["caption"]}  # text never dropped for the student
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    assert distance() < 0.5 * before
    pipeline = task.pipeline(model)
    assert pipeline.config.guidance_distilled and pipeline.config.default_num_inference_steps == 8
    assert pipeline.config.default_guidance_scale == 1.0


def test_a_teacher_folder_without_a_transformer_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="task_options.teacher"):
        make_task(teacher=str(tmp_path))


def test_trajectory_target_is_one_step_to_where_the_substeps_reach():
    from genvid.training.tasks.dit import sampler_levels, trajectory_velocity

    noisy = torch.randn(2, 4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    start = torch.tensor([[0.8, 0.8, 0.0], [0.5, 0.5, 0.5]])
    end = torch.tensor([[0.4, 0.4, 0.0], [0.1, 0.1, 0.1]])
    constant = torch.randn_like(noisy)
    # a straight path: its one-step velocity is the velocity itself (clean frames: 0)
    straight = trajectory_velocity(lambda x, t: constant, noisy, start, end, 4)
    assert torch.allclose(straight[0, :, :2], constant[0, :, :2], atol=1e-5) and torch.allclose(straight[1], constant[1], atol=1e-5)
    assert (straight[0, :, 2] == 0).all()
    # a curved one, dx/ds = x: four Euler substeps land at x (1 + ds / 4)^4, not at one step's x (1 + ds)
    curved = trajectory_velocity(lambda x, t: x, noisy, start, end, 4)
    span = (end - start)[:, None, :, None, None]
    landed = noisy + span * curved
    assert torch.allclose(landed[1], noisy[1] * (1 + span[1] / 4) ** 4, atol=1e-5)
    levels = sampler_levels(8, 1.0)
    assert levels.shape == (9,) and levels[0] == 1 and levels[-1] == 0 and (levels.diff() < 0).all()


def test_few_step_distillation_trains_at_the_samplers_levels_on_the_teachers_path(tmp_path):
    torch.manual_seed(0)
    teacher = VideoDiffusionTransformer(**MODEL)
    teacher.save_pretrained(tmp_path / "teacher" / "transformer")
    with pytest.raises(ConfigError, match="distill_substeps"):
        make_task(distill_substeps=2)
    task = make_task(teacher=str(tmp_path / "teacher"), distill_substeps=2, distilled_steps=4, scheduler_shift=3.0)
    seen = []
    original = task.teacher.forward
    task.teacher.forward = lambda noisy, timesteps, *rest, **options: (seen.append(timesteps.clone()), original(noisy, timesteps, *rest, **options))[1]
    model = task.build_model()
    loss, _ = task.training_step(model, synthetic_batch(["a red circle moving left"] * 3), 0, torch.Generator().manual_seed(0))
    assert loss.isfinite() and len(seen) == 2  # two substeps, each one guided (two-stream) teacher call
    from genvid.training.tasks.dit import sampler_levels

    visited = set((sampler_levels(4, 3.0)[:-1] * 1000).round().tolist())
    first = {round(value) for value in seen[0].flatten().tolist() if value > 0}
    assert first and first <= {round(value) for value in visited}
