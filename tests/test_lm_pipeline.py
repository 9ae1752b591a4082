"""GenVidARPipeline and LanguageModelTask on tiny components (CPU)."""

import json

import pytest
import torch

from genvid.config import load_config
from genvid.errors import GenvidError
from genvid.models.lm import VideoLanguageModel
from genvid.pipelines.ar import GenVidARPipeline

TOKENIZER_CONFIG = dict(bottleneck="fsq", fsq_levels=[4, 4], base_channels=8, channel_multipliers=[1, 2, 2, 2],
                        num_res_blocks=1, num_mid_blocks=1, cell_skip=False)
SIZE = dict(num_frames=5, height=16, width=16)


@pytest.fixture(scope="module")
def pipeline():
    from tokenizer import VideoTokenizer

    from genvid.text import TextEncoder

    torch.manual_seed(0)
    video_tokenizer = VideoTokenizer(**TOKENIZER_CONFIG).eval()
    text_encoder = TextEncoder(max_length=8)
    model = VideoLanguageModel(codebook_size=video_tokenizer.codebook_size, hidden_size=32, num_layers=2, num_heads=2,
                               text_hidden_size=text_encoder.hidden_size, max_sequence_length=40,
                               sliding_window=8, local_global_pattern=2).eval()
    pipe = GenVidARPipeline(video_tokenizer=video_tokenizer, text_encoder=text_encoder, transformer=model)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def clip(seed=0, frames=5):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(3, frames, 16, 16, generator=generator) * 2 - 1


def test_save_load_round_trip_reproduces_the_video(pipeline, tmp_path):
    first = pipeline(["a red circle", "a blue square"], **SIZE, top_k=5, generator=torch.Generator().manual_seed(7)).frames
    assert first.shape == (2, 5, 16, 16, 3) and 0 <= first.min() and first.max() <= 1
    pipeline.save_pretrained(tmp_path / "ar")
    index = json.loads((tmp_path / "ar" / "model_index.json").read_text())
    assert index["transformer"] == ["genvid.models.lm", "VideoLanguageModel"]
    loaded = GenVidARPipeline.from_pretrained(tmp_path / "ar")
    loaded.set_progress_bar_config(disable=True)
    again = loaded(["a red circle", "a blue square"], **SIZE, top_k=5, generator=torch.Generator().manual_seed(7)).frames
    assert (first == again).all()


def test_inpainting_and_continuation_keep_the_given_tokens(pipeline):
    video = clip()
    given = pipeline.video_tokenizer.tokenize(video[None])
    mask = torch.zeros(5, 16, 16, dtype=torch.bool)
    mask[:, :8, :8] = True  # the top-left token of every latent frame is regenerated
    ids = pipeline("a circle", video=video, mask=mask, **SIZE, temperature=2.0, output_type="latent",
                   generator=torch.Generator().manual_seed(0)).frames
    keep = torch.ones_like(given, dtype=torch.bool)
    keep[:, :, 0, 0] = False
    assert torch.equal(ids[keep], given[keep])
    outpainted = pipeline("a circle", video=video, mask=~mask, task="outpaint", **SIZE, output_type="latent",
                          generator=torch.Generator().manual_seed(0)).frames
    assert torch.equal(outpainted[:, :, 0, 0], given[:, :, 0, 0])
    continued = pipeline(["a", "b"], video=video[:, :1], **SIZE, num_videos_per_prompt=2, output_type="latent",
                         generator=torch.Generator().manual_seed(0)).frames
    assert continued.shape == (4, 2, 2, 2) and (continued[:, :1] == given[:, :1]).all()
    image = pipeline("a", image=video[:, 0], **SIZE, output_type="latent").frames
    assert torch.equal(image[:, 0], given[:, 0])


def test_sampled_ids_are_video_ids_and_top_k_one_is_deterministic(pipeline):
    ids = [pipeline(None, **SIZE, temperature=5.0, output_type="latent", generator=torch.Generator().manual_seed(seed)).frames
           for seed in range(3)]
    for sample in ids:
        assert 0 <= sample.min() and sample.max() < pipeline.video_tokenizer.codebook_size
    seen = []
    greedy = [pipeline("a", **SIZE, top_k=1, output_type="latent", generator=torch.Generator().manual_seed(seed),
                       callback_on_step_end=lambda pipe, index, timestep, kwargs: seen.append(kwargs["latents"].shape[1])).frames
              for seed in (0, 1)]
    assert torch.equal(greedy[0], greedy[1])
    assert seen == list(range(1, 9)) * 2  # one call per sampled token (2x2x2 grid)


def test_clear_errors(pipeline):
    with pytest.raises(GenvidError, match="max_sequence_length=40") as error:
        pipeline("a long prompt " * 20, num_frames=9, height=32, width=32)
    assert "\n" not in str(error.value)
    with pytest.raises(GenvidError, match="1 \\+ 4k frames"):
        pipeline("a", num_frames=6, height=16, width=16)
    with pytest.raises(GenvidError, match="mask must have shape"):
        pipeline("a", video=clip(), mask=torch.zeros(5, 8, 8, dtype=torch.bool), **SIZE)
    with pytest.raises(GenvidError, match="shape"):
        pipeline("a", video=torch.zeros(5, 16, 16), mask=torch.zeros(16, 16, dtype=torch.bool), **SIZE)
    with pytest.raises(GenvidError, match="fewer than num_frames"):
        pipeline("a", video=clip(), **SIZE)
    with pytest.raises(GenvidError, match="needs video and mask"):
        pipeline("a", task="inpaint", **SIZE)


def test_training_task_learns_exports_and_previews(tmp_path):
    from genvid.training.loop import train
    from genvid.training.tasks import get_task_class

    assert get_task_class("lm").__name__ == "LanguageModelTask"
    lines = [
        "task: lm",
        "model: {hidden_size: 32, num_layers: 2, num_heads: 2, max_sequence_length: 64, sliding_window: 8, local_global_pattern: 2}",
        "data: {source: synthetic, num_samples: 4, num_frames: 5, height: 16, width: 16}",
        "task_options:",
        f"  tokenizer_config: {json.dumps(TOKENIZER_CONFIG)}",
        "  text_max_length: 8",
        "training:",
        f"  output_dir: {tmp_path / 'run'}",
        "  max_steps: 20", "  preview_every: 20", "  batch_size: 4", "  learning_rate: 0.01", "  warmup_steps: 2", "  log_every: 1",
        "  checkpoint_every: 0", "  report_to: none",
    ]
    path = tmp_path / "lm.yaml"
    path.write_text("\n".join(lines) + "\n")
    train(load_config(path))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    curve = [record["loss"] for record in records if "loss" in record]
    assert sum(curve[-5:]) / 5 < 0.7 * sum(curve[:5]) / 5
    loaded = GenVidARPipeline.from_pretrained(tmp_path / "run" / "final")
    assert loaded.transformer.config.codebook_size == 16
    assert (tmp_path / "run" / "previews" / "step0000020.png").is_file()
    assert (tmp_path / "run" / "previews" / "step0000020_sample0.mp4").is_file()


def test_from_pretrained_in_a_fresh_process(pipeline, tmp_path):
    # diffusers resolves non-diffusers component modules only from sys.modules; the pipeline must
    # import genvid's own ones itself (a CLI process has not imported them)
    import subprocess
    import sys

    pipeline.save_pretrained(tmp_path / "ar")
    code = ("from genvid.pipelines.ar import GenVidARPipeline; import sys; "
            "pipe = GenVidARPipeline.from_pretrained(sys.argv[1]); print(type(pipe.video_tokenizer).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ar")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("VideoTokenizer")


def test_training_task_caches_token_ids_by_clip_content_and_text_by_caption():
    from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

    options = LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8)
    task = LanguageModelTask({"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_sequence_length": 64}, options, None)
    task.setup("cpu")
    calls = []
    tokenize = task.video_tokenizer.tokenize
    task.video_tokenizer.tokenize = lambda video: calls.append(len(video)) or tokenize(video)
    videos = torch.stack([clip(0), clip(1)])
    first = task.tokenize(videos)
    again = task.tokenize(torch.stack([clip(2), clip(1), clip(0)]))
    assert calls == [2, 1]  # only the new clip went through the tokenizer
    assert torch.equal(again[1:], first.flip(0))
    assert torch.equal(first, tokenize(videos).long() + task._vocabulary_offset())

    hidden, mask = task.encode_text(["a red circle", "a much longer caption about a blue square moving"])
    assert hidden.shape == (2, 8, task.text_encoder.hidden_size) and mask.dtype == torch.bool
    assert mask[0].sum() < mask[1].sum()
    direct, direct_mask = task.text_encoder.encode(["a red circle"])
    torch.testing.assert_close(hidden[0, : int(direct_mask.sum())], direct[0, direct_mask[0]])
    assert len(task._text_cache) == 2


def test_default_guidance_scale_is_saved_and_used_when_none_is_given(pipeline, tmp_path):
    components = {name: module for name, module in pipeline.components.items() if module is not None}
    GenVidARPipeline(**components, default_guidance_scale=1.5).save_pretrained(tmp_path / "ar")
    assert json.loads((tmp_path / "ar" / "model_index.json").read_text())["default_guidance_scale"] == 1.5
    loaded = GenVidARPipeline.from_pretrained(tmp_path / "ar")
    loaded.set_progress_bar_config(disable=True)

    def ids(**options):
        return loaded("a red circle", **SIZE, output_type="latent", generator=torch.Generator().manual_seed(3), **options).frames

    assert loaded.config.default_guidance_scale == 1.5
    assert torch.equal(ids(), ids(guidance_scale=1.5))
    assert not torch.equal(ids(), ids(guidance_scale=8.0))
    assert pipeline.config.default_guidance_scale == 3.0


def test_initial_weights_start_from_an_exported_pipeline_and_mismatches_are_one_line_errors(tmp_path):
    from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

    model_config = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_sequence_length": 64}

    def make(config=model_config, **options):
        return LanguageModelTask(config, LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8, **options), None)

    first = make()
    trained = first.build_model()
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.5)  # unlike any fresh initialisation
    first.export(trained, tmp_path / "final")
    fresh = make().build_model()
    for folder in (tmp_path / "final", tmp_path / "final" / "transformer"):  # the pipeline or its transformer
        started = make(initial_weights=str(folder)).build_model()
        for name, tensor in trained.state_dict().items():
            assert torch.equal(started.state_dict()[name], tensor), name
    assert not any(torch.equal(fresh.state_dict()[name], tensor) for name, tensor in trained.state_dict().items())
    with pytest.raises(GenvidError, match="does not match the model section: shape of"):
        make({**model_config, "hidden_size": 48}, initial_weights=str(tmp_path / "final")).build_model()
    with pytest.raises(GenvidError, match="initial_weights: no diffusion_pytorch_model.safetensors"):
        make(initial_weights=str(tmp_path / "missing")).build_model()


def test_prompt_embeds_and_negative_prompt(pipeline):
    def sample(prompt=None, seed=3, **options):
        return pipeline(prompt, **SIZE, top_k=5, guidance_scale=3.0, output_type="latent",
                        generator=torch.Generator().manual_seed(seed), **options).frames

    prompts = ["a red circle", "a blue square"]
    text_only = GenVidARPipeline(pipeline.video_tokenizer, pipeline.text_encoder, None)
    names = ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask")
    embeds = dict(zip(names, text_only.encode_prompt(prompts)))
    assert embeds["negative_prompt_embeds"] is None  # default: the text-free stream the LM was trained with
    assert torch.equal(sample(prompts), sample(**embeds))
    negative = dict(zip(names, text_only.encode_prompt(prompts, negative_prompt="a green triangle")))
    with_negative = sample(prompts, negative_prompt="a green triangle")
    assert torch.equal(with_negative, sample(**negative))
    assert not torch.equal(with_negative, sample(prompts))
    # the empty prompt is the text-free stream: an empty negative prompt is the default
    assert torch.equal(sample(prompts, negative_prompt=""), sample(prompts))


def test_one_generator_per_video(pipeline):
    batched = pipeline(["a red circle", "a blue square"], **SIZE, temperature=2.0, output_type="latent",
                       generator=[torch.Generator().manual_seed(seed) for seed in (4, 5)]).frames
    alone = [pipeline(prompt, **SIZE, temperature=2.0, output_type="latent", generator=torch.Generator().manual_seed(seed)).frames
             for prompt, seed in (("a red circle", 4), ("a blue square", 5))]
    assert torch.equal(batched, torch.cat(alone))
    with pytest.raises(GenvidError, match="3 generators for 2 videos"):
        pipeline(["a", "b"], **SIZE, generator=[torch.Generator()] * 3)


def test_step_callback_replaces_codes_and_interrupts(pipeline):
    def zero_at_the_end(pipe, index, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])} if index == pipe.num_timesteps - 1 else {}

    ids = pipeline("a", **SIZE, temperature=2.0, output_type="latent", callback_on_step_end=zero_at_the_end,
                   generator=torch.Generator().manual_seed(0)).frames
    assert ids.abs().sum() == 0

    def stop_after_three(pipe, index, timestep, tensors):
        pipe._interrupt = index == 2
        return tensors

    ids = pipeline("a", **SIZE, temperature=2.0, output_type="latent", callback_on_step_end=stop_after_three,
                   generator=torch.Generator().manual_seed(1)).frames.flatten()
    full = pipeline("a", **SIZE, temperature=2.0, output_type="latent", generator=torch.Generator().manual_seed(1)).frames
    assert torch.equal(ids[:3], full.flatten()[:3]) and (ids[3:] == 0).all()
