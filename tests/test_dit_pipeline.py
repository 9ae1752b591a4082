"""GenVidDiffusionPipeline with tiny random components: reproducible, round-trips, I2V, guidance, errors."""

import json

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from genvid.errors import GenvidError
from genvid.models.dit import VideoDiffusionTransformer
from genvid.pipelines.diffusion import GenVidDiffusionPipeline

SIZE = dict(num_frames=5, height=16, width=16)  # latents 2 x 4 x 4 with the tiny tokenizer below
STEPS = 3


@pytest.fixture(scope="module")
def text_encoder():
    from genvid.text import TextEncoder

    return TextEncoder()


def tiny_video_tokenizer(seed=0):
    from tokenizer import VideoTokenizer

    torch.manual_seed(seed)
    return VideoTokenizer(
        bottleneck="gaussian", latent_channels=4, base_channels=8, channel_multipliers=(1, 2, 2),
        num_res_blocks=1, num_mid_blocks=1,
    ).eval()


def tiny_transformer(seed=0):
    torch.manual_seed(seed)
    model = VideoDiffusionTransformer(in_channels=4, hidden_size=32, num_layers=1, num_heads=2, text_hidden_size=384)
    with torch.no_grad():  # leave AdaLN-zero's zero start so outputs depend on every input
        for parameter in model.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(std=0.1)
    return model.eval()


@pytest.fixture(scope="module")
def pipe(text_encoder):
    pipeline = GenVidDiffusionPipeline(
        video_tokenizer=tiny_video_tokenizer(),
        text_encoder=text_encoder,
        transformer=tiny_transformer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=2.0),
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipe, prompt="a red circle moving right", seed=0, **kwargs):
    options = dict(SIZE, num_inference_steps=STEPS, guidance_scale=3.0, generator=torch.Generator().manual_seed(seed))
    options.update(kwargs)
    return pipe(prompt, **options).frames


def test_output_types_and_batching(pipe):
    frames = generate(pipe, ["a red circle", "a blue square"], num_videos_per_prompt=2)
    assert frames.shape == (4, 5, 16, 16, 3) and frames.dtype == np.float32
    assert 0 <= frames.min() and frames.max() <= 1
    pt = generate(pipe, output_type="pt")
    assert pt.shape == (1, 5, 3, 16, 16)
    pil = generate(pipe, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == 5 and pil[0][0].size == (16, 16)
    latents = generate(pipe, output_type="latent")
    assert latents.shape == (1, 4, 2, 4, 4)
    np.testing.assert_allclose(pt.permute(0, 1, 3, 4, 2).numpy(), generate(pipe), atol=1e-6)


def test_fixed_generator_is_reproducible(pipe):
    first = generate(pipe, seed=3)
    np.testing.assert_array_equal(first, generate(pipe, seed=3))
    assert not np.allclose(first, generate(pipe, seed=4))
    # The prompt steers the sample.
    assert not np.allclose(generate(pipe, "a red circle", output_type="latent"),
                           generate(pipe, "a green triangle", output_type="latent"))


def count_transformer_calls(pipe, **kwargs):
    batch_sizes = []
    handle = pipe.transformer.register_forward_pre_hook(lambda module, args: batch_sizes.append(args[0].shape[0]))
    try:
        generate(pipe, ["a red circle", "a blue square"], output_type="latent", **kwargs)
    finally:
        handle.remove()
    return batch_sizes


def test_guidance_scale_one_skips_the_unconditional_pass(pipe):
    assert count_transformer_calls(pipe, guidance_scale=1.0) == [2] * STEPS
    assert count_transformer_calls(pipe, guidance_scale=4.0) == [4] * STEPS
    # A negative prompt changes the guided result.
    plain = generate(pipe, output_type="latent", guidance_scale=4.0)
    negative = generate(pipe, output_type="latent", guidance_scale=4.0, negative_prompt="a blue square")
    assert not torch.allclose(plain, negative)


def test_classes_are_exported_at_top_level_for_diffusers_loading():
    import importlib

    genvid = importlib.import_module("genvid")
    assert getattr(genvid, "GenVidDiffusionPipeline") is GenVidDiffusionPipeline
    assert getattr(genvid, "VideoDiffusionTransformer") is VideoDiffusionTransformer


def test_save_and_load_reproduce_the_same_video(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    # diffusers 0.42 records a custom class by its full module path, e.g. ["genvid.models.dit", ...].
    assert index["transformer"][0].split(".")[0] == "genvid" and index["transformer"][1] == "VideoDiffusionTransformer"
    assert index["video_tokenizer"][0].split(".")[0] == "tokenizer" and index["video_tokenizer"][1] == "VideoTokenizer"
    assert index["text_encoder"][1] == "TextEncoder"
    assert index["_class_name"] == "GenVidDiffusionPipeline"
    assert list((tmp_path / "transformer").glob("*.safetensors"))
    loaded = GenVidDiffusionPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.scheduler.config.shift == 2.0
    np.testing.assert_array_equal(generate(loaded, seed=5), generate(pipe, seed=5))


def test_image_to_video_keeps_the_given_first_latent_frame(pipe, tmp_path):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(3, 20, 24, generator=generator) * 2 - 1  # resized / cropped to 16 x 16
    latents = generate(pipe, image=image, output_type="latent")
    tokenizer = pipe.video_tokenizer
    from genvid.pipelines.common import image_to_tensor

    with torch.no_grad():
        expected = tokenizer.normalize_latents(tokenizer.encode(image_to_tensor(image, 16, 16)))
    torch.testing.assert_close(latents[:, :, :1], expected)
    assert not torch.allclose(latents[:, :, 1:], expected.expand_as(latents[:, :, 1:]))

    # A PIL image and a path give the same first frame as the same pixels as a tensor.
    from PIL import Image

    array = ((image.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    Image.fromarray(array).save(tmp_path / "first.png")
    quantized = torch.from_numpy(array).permute(2, 0, 1).float() / 127.5 - 1
    from_path = generate(pipe, image=str(tmp_path / "first.png"), output_type="latent")
    from_pil = generate(pipe, image=Image.open(tmp_path / "first.png"), output_type="latent")
    from_tensor = generate(pipe, image=quantized, output_type="latent")
    torch.testing.assert_close(from_path, from_tensor, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(from_pil, from_tensor, atol=1e-5, rtol=1e-4)

    # One image per prompt, several videos per prompt: each video starts from its prompt's image.
    images = torch.stack([image[:, :16, :16], -image[:, :16, :16]])
    batched = generate(pipe, ["a red circle", "a blue square"], image=images, num_videos_per_prompt=2,
                       output_type="latent")
    with torch.no_grad():
        expected = tokenizer.normalize_latents(tokenizer.encode(image_to_tensor(images, 16, 16)))
    torch.testing.assert_close(batched[:, :, :1], expected.repeat_interleave(2, dim=0))


def test_given_latents_replace_the_drawn_noise_and_stay_unchanged(pipe):
    noise = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(9))
    kept = noise.clone()
    from_latents = generate(pipe, latents=noise, image=torch.zeros(3, 16, 16), output_type="latent")
    assert torch.equal(noise, kept)
    from_seed = generate(pipe, seed=9, image=torch.zeros(3, 16, 16), output_type="latent")
    torch.testing.assert_close(from_latents, from_seed)


def test_callback_sees_and_can_replace_latents(pipe):
    seen = []

    def callback(pipeline, step, timestep, tensors):
        seen.append((step, tuple(tensors["latents"].shape)))
        return {"latents": torch.zeros_like(tensors["latents"])} if step == STEPS - 1 else {}

    out = generate(pipe, output_type="latent", callback_on_step_end=callback)
    assert seen == [(index, (1, 4, 2, 4, 4)) for index in range(STEPS)]
    assert out.abs().max() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(prompt=[]), "empty list"),
        (dict(prompt=5), "string or a list"),
        (dict(num_frames=6), "frames"),
        (dict(height=15), "multiples of 8"),
        (dict(width=0), "positive multiples"),
        (dict(height=20), "multiples of 8"),
        (dict(output_type="gif"), "output_type"),
        (dict(negative_prompt=["a", "b"]), "negative_prompt"),
        (dict(num_inference_steps=0), "num_inference_steps"),
        (dict(latents=torch.zeros(1, 4, 3, 4, 4)), "latents must have shape"),
        (dict(image=torch.zeros(16, 16)), "image tensor"),
        (dict(image="/nonexistent/first.png"), "image file not found"),
        (dict(image=torch.zeros(3, 3, 16, 16)), "3 images for 1 prompts"),
        (dict(callback_on_step_end_tensor_inputs=["noise"]), "callback_on_step_end_tensor_inputs"),
    ],
)
def test_bad_inputs_are_clear_one_line_errors(pipe, kwargs, message):
    prompt = kwargs.pop("prompt", "a red circle")
    with pytest.raises(GenvidError, match=message) as error:
        generate(pipe, prompt, **kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="model CPU offload needs an accelerator")
def test_model_cpu_offload_gives_the_same_video(pipe):
    expected = generate(pipe, output_type="latent")
    pipe.enable_model_cpu_offload()
    try:
        torch.testing.assert_close(generate(pipe, output_type="latent").cpu(), expected, atol=1e-4, rtol=1e-3)
    finally:
        pipe.remove_all_hooks()
        pipe.to("cpu")


def test_from_pretrained_in_a_fresh_process(pipe, tmp_path):
    # A CLI process has imported only the pipeline module; diffusers finds genvid's component
    # classes only among modules already imported, so the pipeline must import them itself.
    import subprocess
    import sys

    pipe.save_pretrained(tmp_path / "diffusion")
    code = (
        "import sys; from genvid.pipelines.diffusion import GenVidDiffusionPipeline; "
        "pipe = GenVidDiffusionPipeline.from_pretrained(sys.argv[1]); "
        "print(type(pipe.transformer).__name__, type(pipe.video_tokenizer).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "diffusion")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["VideoDiffusionTransformer", "VideoTokenizer"]


def test_default_guidance_scale_is_saved_and_used_when_none_is_given(pipe, tmp_path):
    pipeline = GenVidDiffusionPipeline(**pipe.components, default_guidance_scale=2.5)
    pipeline.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["default_guidance_scale"] == 2.5
    loaded = GenVidDiffusionPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.config.default_guidance_scale == 2.5
    unset = generate(loaded, output_type="latent", guidance_scale=None)
    torch.testing.assert_close(unset, generate(loaded, output_type="latent", guidance_scale=2.5), rtol=0, atol=0)
    assert not torch.allclose(unset, generate(loaded, output_type="latent", guidance_scale=5.0))
    assert pipe.config.default_guidance_scale == 5.0  # the class's default for folders without one


def test_prompt_embeds_give_the_same_video_as_the_prompt(pipe):
    prompts, negative = ["a red circle moving right", "a blue square"], "a green triangle"
    expected = generate(pipe, prompts, negative_prompt=negative, num_videos_per_prompt=2)
    # encoded once, in a pipeline holding only the text encoder (diffusers' encode_prompt in isolation)
    text_only = GenVidDiffusionPipeline(pipe.video_tokenizer, pipe.text_encoder, None, pipe.scheduler)
    embeds = text_only.encode_prompt(prompts, negative)
    assert [tuple(tensor.shape[:2]) for tensor in embeds[::2]] == [(2, embeds[0].shape[1]), (2, embeds[2].shape[1])]
    names = ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask")
    again = generate(pipe, None, num_videos_per_prompt=2, **dict(zip(names, embeds)))
    np.testing.assert_array_equal(expected, again)
    assert not np.array_equal(expected, generate(pipe, prompts, num_videos_per_prompt=2))  # the negative mattered
    with pytest.raises(GenvidError, match="not both"):
        generate(pipe, prompts, prompt_embeds=embeds[0])


def test_interrupt_skips_the_steps_left(pipe):
    calls = []
    forward = pipe.transformer.forward
    pipe.transformer.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)

    def stop_after_first(pipeline, step, timestep, tensors):
        pipeline._interrupt = True
        return tensors

    try:
        generate(pipe, output_type="latent", callback_on_step_end=stop_after_first)
    finally:
        del pipe.transformer.forward
    assert len(calls) == 1 and pipe.interrupt


def test_a_variant_save_keeps_the_text_encoder_config_only_and_loads_back(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "fp16", variant="fp16")
    assert sorted(path.name for path in (tmp_path / "fp16" / "text_encoder").iterdir()) == ["config.json"]
    assert (tmp_path / "fp16" / "transformer" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    loaded = GenVidDiffusionPipeline.from_pretrained(tmp_path / "fp16", variant="fp16")
    loaded.set_progress_bar_config(disable=True)
    np.testing.assert_array_equal(generate(pipe), generate(loaded))


def test_a_guidance_distilled_pipeline_runs_one_evaluation_a_step_by_default(pipe, tmp_path):
    pipeline = GenVidDiffusionPipeline(
        **pipe.components, default_guidance_scale=1.0, guidance_distilled=True, default_num_inference_steps=3
    )
    pipeline.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["guidance_distilled"] is True and index["default_num_inference_steps"] == 3
    loaded = GenVidDiffusionPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    # None steps / guidance: the folder's 3 steps, one conditional evaluation each (2 prompts a batch)
    assert count_transformer_calls(loaded, num_inference_steps=None, guidance_scale=None) == [2] * 3
    assert count_transformer_calls(loaded, num_inference_steps=5, guidance_scale=None) == [2] * 5
    # the many-step guided path stays available on request
    assert count_transformer_calls(loaded, num_inference_steps=4, guidance_scale=2.0) == [4] * 4
    # a folder without the keys keeps the old defaults: 30 steps with guidance
    assert count_transformer_calls(pipe, num_inference_steps=None) == [4] * 30


@pytest.mark.parametrize("sampler", ["euler", "dpm_solver"])
def test_the_command_line_writes_the_same_video_without_diffusers_or_transformers(pipe, tmp_path, sampler):
    # genvid generate runs the sampling steps on genvid.pipelines.standalone: genvid's networks from
    # the same folder, MiniLM through genvid.models.bert, genvid's flow-match sampler (Euler or
    # DPM-Solver++, as the folder's scheduler says); frames equal to the bit, the same mp4 bytes,
    # and neither diffusers nor transformers (nor scipy) imported.
    import subprocess
    import sys

    from diffusers import DiffusionPipeline

    from genvid.data import write_video
    from genvid.pipelines.common import frames_to_video

    assert issubclass(GenVidDiffusionPipeline, DiffusionPipeline)  # Python users keep the diffusers class
    from genvid.pipelines.flow_scheduler import diffusers_sampler

    components = dict(pipe.components, scheduler=diffusers_sampler(sampler, 2.0))
    GenVidDiffusionPipeline(**components, default_guidance_scale=2.5).save_pretrained(tmp_path)
    reference = generate(GenVidDiffusionPipeline.from_pretrained(tmp_path), guidance_scale=None, output_type="pt")
    np.save(tmp_path / "reference.npy", reference.numpy())
    write_video(tmp_path / "reference.mp4", frames_to_video(reference[0]), fps=8)
    code = (
        "import sys, numpy, torch; from genvid.cli import main; from genvid.pipelines.standalone import load; "
        "folder = sys.argv[1]; torch.set_num_threads(1); "
        "pipe = load(folder); pipe.set_progress_bar_config(disable=True); "
        "frames = pipe('a red circle moving right', num_frames=5, height=16, width=16, num_inference_steps=3, "
        "generator=torch.Generator().manual_seed(0), output_type='pt').frames; "
        "status = main(['generate', 'a red circle moving right', '--pipeline', folder, '--output', folder + '/cli.mp4', "
        "'--num-frames', '5', '--height', '16', '--width', '16', '--steps', '3', '--device', 'cpu']); "
        "print(status, bool((frames.numpy() == numpy.load(folder + '/reference.npy')).all()), "
        "pipe.config.default_guidance_scale, sorted({name.split('.')[0] for name in sys.modules} "
        "& {'diffusers', 'transformers', 'scipy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "0 True 2.5 []"
    assert (tmp_path / "cli.mp4").read_bytes() == (tmp_path / "reference.mp4").read_bytes()


def test_the_command_lines_sampler_equals_diffusers_scheduler():
    # genvid.pipelines.flow_scheduler reproduces FlowMatchEulerDiscreteScheduler's levels, Euler steps
    # and forward noising (video-to-video) to the bit, at any shift and step count
    from genvid.pipelines.flow_scheduler import FlowMatchEuler

    generator = torch.Generator().manual_seed(0)
    for shift in (1.0, 2.0, 3.0):
        config = dict(FlowMatchEulerDiscreteScheduler(shift=shift).config)
        theirs, ours = FlowMatchEulerDiscreteScheduler.from_config(config), FlowMatchEuler.from_config(config)
        for steps in (1, 4, 30):
            theirs.set_timesteps(steps, device="cpu")
            ours.set_timesteps(steps, device="cpu")
            assert torch.equal(ours.timesteps, theirs.timesteps) and torch.equal(ours.sigmas, theirs.sigmas)
            sample = torch.randn(2, 4, 2, 4, 4, generator=generator)
            expected = sample.clone()
            for timestep in theirs.timesteps:
                velocity = torch.randn(sample.shape, generator=generator)
                expected = theirs.step(velocity, timestep, expected, return_dict=False)[0]
                sample = ours.step(velocity, timestep, sample)[0]
            assert torch.equal(sample, expected)
            for scheduler in (theirs, ours):
                scheduler.set_timesteps(steps)
                scheduler.set_begin_index(steps // 2)
            clean, noise = torch.randn(2, 4, 2, 4, 4, generator=generator), torch.randn(2, 4, 2, 4, 4, generator=generator)
            level = theirs.timesteps[steps // 2:][:1]
            assert torch.equal(ours.scale_noise(clean, level, noise), theirs.scale_noise(clean, level, noise))
    assert FlowMatchEuler.from_config(dict(config, use_karras_sigmas=True)) is None  # left to diffusers' class


def test_standalone_base_declines_a_folder_it_cannot_load_as_diffusers_would(pipe, tmp_path):
    from genvid.pipelines.standalone import StandaloneDiffusionPipeline, load

    pipe.save_pretrained(tmp_path)
    assert isinstance(load(tmp_path), StandaloneDiffusionPipeline)
    index = json.loads((tmp_path / "model_index.json").read_text())
    index["text_encoder"] = ["transformers", "T5EncoderModel"]
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    assert load(tmp_path) is None  # the command falls back to GenVidDiffusionPipeline.from_pretrained
    pipe.save_pretrained(tmp_path)
    scheduler = json.loads((tmp_path / "scheduler" / "scheduler_config.json").read_text())
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(dict(scheduler, use_karras_sigmas=True)))
    assert load(tmp_path) is None  # a schedule genvid's sampler does not reproduce: diffusers' class
    pipe.save_pretrained(tmp_path)
    pipe.transformer.to(torch.float16).save_pretrained(tmp_path / "transformer")
    pipe.transformer.to(torch.float32)
    assert load(tmp_path) is None  # weights diffusers would load in their own precision
