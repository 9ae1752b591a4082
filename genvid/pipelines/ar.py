"""Text-to-video (image-to-video, continuation, inpainting, outpainting) with genvid's autoregressive LM.

Loading: ``GenVidARPipeline.from_pretrained(path)`` rebuilds every component, including those whose
classes live outside diffusers (``model_index.json`` records ``["genvid.models.lm",
"VideoLanguageModel"]``, ``["genvid.text", "TextEncoder"]``, ``["tokenizer.model", "VideoTokenizer"]``). The bare
``diffusers.DiffusionPipeline.from_pretrained(path)`` does not work for a genvid folder: diffusers
looks for the pipeline class inside diffusers itself and fails with ``module diffusers has no
attribute GenVidARPipeline``. Always load through this class.
"""

from __future__ import annotations

from typing import Any

from dataclasses import replace

import numpy as np
import torch
from diffusers import DiffusionPipeline
from einops import rearrange

from genvid.errors import GenvidError
from genvid.models.ar_tasks import (
    ARTask,
    TaskExample,
    TaskInputs,
    TaskOutput,
    flatten_grid,
    get_task,
    infer_task,
    repeat_rows,
)
from genvid.models.sampling import generate
from genvid.models.sequence import build_sequence, pad_text
from genvid.pipelines.common import (
    OUTPUT_TYPES,
    GenVidPipelineOutput,
    GenVidPipelineMixin,
    as_video_tensor,
    check_prompt_inputs,
    image_to_tensor,
    postprocess_video,
)
from genvid.pipelines.conditioning import windows
from genvid.pipelines.lora import LoraLoaderMixin
from genvid.pipelines.memory import MemoryMixin

#: tasks whose output is a plain clip, so a longer one rolls forward window by window
ROLLING_TASKS = ("t2v", "i2v", "continue", "uncond")

EXAMPLE = """
    Examples:
        >>> import torch
        >>> from genvid import GenVidARPipeline
        >>> pipe = GenVidARPipeline.from_pretrained("path/to/exported/lm")
        >>> frames = pipe("a red circle moving left", num_frames=17, height=64, width=64, top_k=100,
        ...               guidance_scale=3.0, generator=torch.Generator().manual_seed(0)).frames[0]
        >>> frames.shape  # (17, 64, 64, 3) in [0, 1]
        >>> # inpainting: True in `mask` marks the pixels to regenerate; the rest keeps its tokens
        >>> mask = torch.zeros(17, 64, 64, dtype=torch.bool); mask[:, 16:48, 16:48] = True
        >>> out = pipe("a red circle", video=clip, mask=mask).frames   # clip: (3, 17, 64, 64) in [-1, 1]
        >>> # with an audio codec: the soundtrack of a clip (v2a), or a clip for a soundtrack (a2v)
        >>> sound = pipe(video=clip, task="v2a").audio          # (1, samples) at audio_codec's rate
        >>> out = pipe(audio="tone.wav", num_frames=17)          # a2v: .frames, and .audio = the tone
"""


CALL_DOCUMENTATION = """Generate videos (or, for v2a, a clip's soundtrack).

        Steps: check the inputs -> encode the text -> the task prepares its conditioning -> sample
        the target tokens (:func:`genvid.models.sampling.generate`) -> decode.

        Args:
            prompt: text or texts; ``None`` or ``""`` with no conditioning = unconditional (an empty
                prompt is the text-free stream the model was trained with).
            negative_prompt: text for guidance's unconditional stream (default: the text-free stream).
            image: first frame for image-to-video (PIL image, path, or tensor (3, H, W) in [-1, 1]).
            video: (3, T, H, W) or (B, 3, T, H, W) in [-1, 1]: the given frames for continuation
                (T = 1 + 4k, fewer than ``num_frames``), the clip to in/outpaint (T = ``num_frames``)
                or to give a soundtrack (v2a).
            mask: pixels to generate (True) for inpaint/outpaint: (H, W), (T, H, W) or (B, T, H, W).
            audio: a2v: the soundtrack to make a video for: a waveform ``(samples,)`` / ``(batch, samples)``
                at the audio codec's sample rate, or a sound or video file path (resampled); cut or
                zero-padded to ``num_frames`` at the codec's video fps.
            num_frames: ``1 + 4k``; None: 17, for continuation the given clip plus one window
                (``window_frames - 1`` more frames), for in/outpainting the given clip's length.
            window_frames, context_frames: t2v / i2v / continue / uncond longer than ``window_frames``
                (the model's training length, 17) roll forward: each window is a continuation of the
                last ``context_frames`` latent frames made so far, so the sequence never outgrows one
                window (memory flat in length). None: one pass, as long as it fits the context.
            task: a task of :data:`genvid.models.ar_tasks.TASKS` (its name or object); inferred from
                the inputs when None.
            temperature, top_k, top_p: sampling; ``temperature=0`` or ``top_k=1`` is greedy.
            guidance_scale: classifier-free guidance on the logits (1 = off; the unconditional stream
                is batched with the conditional one). None: the pipeline's ``default_guidance_scale``.
            generator: a torch.Generator, or a list with one per video; the same seed, the same video.
            prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask:
                what :meth:`encode_prompt` returns, instead of ``prompt`` / ``negative_prompt``.
            output_type: "np", "pil", "pt" or "latent" (token ids (B, t, h, w)).
            static_cache: pre-allocated KV cache (default: on CUDA); ``compile``: compile its
                decode step with CUDA graphs (first call slow, then much less host overhead).
            callback_on_step_end: ``callback(pipe, index, None, {"latents": codes so far})`` after each
                sampled token (diffusers' signature; an AR model has no timestep); codes it returns
                replace the sampled ones, and ``pipe._interrupt = True`` stops sampling (the rest of
                the clip is then code 0).
            callback_on_step_end_tensor_inputs: ``["latents"]``, the one tensor an AR step has.

        Returns ``GenVidPipelineOutput(frames, audio)``: ``audio`` (batch, samples) in [-1, 1] is the
        generated soundtrack for v2a (``frames`` are then the given clip; with ``output_type="latent"``
        the clip's token ids and the sound's codec codes (batch, levels, frames)), the conditioning
        sound for a2v, else None.
"""


class GenVidARPipeline(GenVidPipelineMixin, LoraLoaderMixin, MemoryMixin, DiffusionPipeline):
    """Video generation with a VideoPoet-style prefix LM over a discrete video tokenizer's ids.

    Components: ``video_tokenizer`` (``tokenizer.VideoTokenizer`` with an FSQ or LFQ bottleneck),
    ``text_encoder`` (``genvid.text.TextEncoder``), ``transformer``
    (:class:`genvid.models.lm.VideoLanguageModel`) and, optionally, ``audio_codec``
    (``tokenizer.AudioCodec``; None for a video-only model) for the v2a / a2v tasks.

    Each task (t2v, i2v, continue, inpaint, ...) is an object of the table
    :mod:`genvid.models.ar_tasks`, which says what inputs it takes and how it conditions the LM.
    Without ``task=`` the inputs choose: ``audio`` alone -> a2v, ``mask`` (with ``video``) ->
    inpaint, ``video`` -> continue, ``image`` -> i2v, no prompt -> uncond, else t2v. ``task="outpaint"``
    with a mask is the same request with the outpainting task token (``mask`` True = the area to
    generate); ``task="v2a"`` with ``video`` generates the clip's soundtrack.
    """

    component_modules = ("genvid.models.lm", "genvid.text", "tokenizer")
    model_cpu_offload_seq = "text_encoder->transformer->video_tokenizer"
    _optional_components = ["audio_codec"]
    #: no negative prompt: guidance's unconditional stream is the text-free one the LM was trained
    #: with (the text positions kept, masked out), which an empty prompt also gives
    default_negative_prompt = None
    _callback_tensor_inputs = ["latents"]

    def __init__(self, video_tokenizer, text_encoder, transformer, audio_codec=None, default_guidance_scale: float = 3.0):
        super().__init__()
        self.register_modules(
            video_tokenizer=video_tokenizer, text_encoder=text_encoder, transformer=transformer, audio_codec=audio_codec
        )
        # saved in model_index.json: the guidance a trained model is best sampled with
        self.register_to_config(default_guidance_scale=default_guidance_scale)

    # ------------------------------------------------------------------ input checks
    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        try:
            return tuple(self.video_tokenizer.latent_shape(num_frames, height, width))
        except ValueError as error:
            raise GenvidError(str(error).splitlines()[0]) from None

    def check_inputs(self, prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
                     negative_prompt_attention_mask, num_videos_per_prompt, output_type, temperature, top_k, top_p,
                     callback_on_step_end_tensor_inputs):
        check_prompt_inputs(prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
                            negative_prompt_attention_mask, prompt_needed=False)
        self.check_callback_inputs(callback_on_step_end_tensor_inputs)
        if num_videos_per_prompt < 1:
            raise GenvidError(f"num_videos_per_prompt must be >= 1, got {num_videos_per_prompt}")
        if output_type not in OUTPUT_TYPES:
            raise GenvidError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        if temperature < 0:
            raise GenvidError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise GenvidError(f"top_k must be >= 1, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise GenvidError(f"top_p must be in (0, 1], got {top_p}")
        if not getattr(self.video_tokenizer, "is_discrete", False):
            raise GenvidError("the AR pipeline needs a discrete video tokenizer (FSQ or LFQ bottleneck)")

    def prepare_task(self, task, image, video, mask, audio, num_frames, height, width, has_text: bool):
        """The task (named, or inferred from the inputs) and its inputs as tensors, checked."""
        has_codec = getattr(self, "audio_codec", None) is not None and self.transformer.vocabulary.num_audio_codebooks > 0
        inputs = TaskInputs(num_frames, height, width, video=None if video is None else as_video_tensor(video), mask=mask)
        if audio is not None:
            from genvid.data.audio_io import as_waveform

            if not has_codec:
                raise GenvidError("audio needs a pipeline with an audio codec and an LM trained with audio codes")
            inputs.audio = as_waveform(audio, self.audio_codec.config.sample_rate)
        inputs.image = image  # only whether it is given matters until the size is known
        task = infer_task(inputs, has_text) if task is None else task if isinstance(task, ARTask) else get_task(task)
        if task.uses_audio and not has_codec:
            raise GenvidError(f"task {task.name!r} needs a pipeline with an audio codec and an LM trained with audio codes")
        task.check(inputs)
        inputs = task.sized(inputs)
        if image is not None:
            inputs.image = image_to_tensor(image, inputs.height, inputs.width)
        self.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        return task, inputs

    def prepare_sequence(self, task: ARTask, inputs: TaskInputs, batch: int, text_length: int, device, example=None):
        """The task's conditioning (``example``, prepared from ``inputs`` when None) and the prefix it
        lays out, checked against the model's context."""
        example = task.prepare(self, inputs, batch, device) if example is None else example
        sequence = build_sequence(
            task, batch, text_length, example.condition_ids, target_length=example.target_length,
            condition_audio_ids=example.condition_audio_ids, target_kind=example.target_kind, device=device,
        )
        needed, context = sequence.prefix_length + example.target_length, self.transformer.config.max_sequence_length
        if needed > context:
            raise GenvidError(
                f"prompt and conditioning ({sequence.prefix_length} tokens) plus {example.target_length} target tokens "
                f"need {needed} positions, more than the model's context (max_sequence_length={context}); "
                f"use fewer frames or a smaller size"
            )
        return example, sequence

    # ------------------------------------------------------------------ encoding
    def _encode_text(self, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        """For :meth:`encode_prompt`: hidden states padded to the text encoder's ``max_length`` (the
        fixed prefix layout the LM was trained with); an empty prompt's mask is all False (the
        text-free stream the LM learned from dropped text)."""
        hidden, mask = self.text_encoder.encode(prompts, device=device)
        hidden, mask = pad_text(hidden, mask, self.text_encoder.config.max_length)
        empty = torch.tensor([not text.strip() for text in prompts], device=mask.device)
        return hidden, mask & ~empty[:, None]

    def encode_soundtrack(self, waveform: torch.Tensor, num_frames: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms ``(batch, samples)`` -> vocabulary ids of their codes and the waveforms they
        encode, cut or zero-padded to ``num_frames`` video frames at the codec's fps."""
        codec = self.audio_codec
        waveform = codec.fit_to_frames(waveform.to(device), codec.frames_for_video(num_frames))
        codes = codec.encode(waveform.to(codec.dtype), num_codebooks=self.transformer.vocabulary.num_audio_codebooks)
        return self.transformer.vocabulary.audio_to_ids(codes), waveform

    def decode(self, output: TaskOutput, output_type: str):
        """A task's output -> ``(frames, audio)`` in the asked output type."""
        if output_type == "latent":
            return output.video_ids, output.audio_codes if output.audio_codes is not None else output.audio
        video = output.video if output.video is not None else self.video_tokenizer.detokenize(output.video_ids)
        audio = output.audio
        if output.audio_codes is not None:
            audio = self.audio_codec.decode(output.audio_codes).float().clamp(-1, 1).cpu()
        return postprocess_video(video, output_type), audio

    def tokenize(self, video: torch.Tensor, device) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> vocabulary ids (B, t, h, w)."""
        tokenizer = self.video_tokenizer
        codes = tokenizer.tokenize(video.to(device, tokenizer.dtype))
        return self.transformer.vocabulary.video_to_ids(codes)

    def mask_to_grid(self, mask: Any, batch: int, num_frames: int, height: int, width: int, grid) -> torch.Tensor:
        """A pixel mask (True = generate) -> a token mask (batch, t, h, w): a token is generated if
        any pixel it covers is masked (latent frame 0 covers frame 0, frame k frames 4k-3..4k)."""
        mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).bool().cpu()
        if mask.ndim == 2:
            mask = mask[None].expand(num_frames, -1, -1)
        if mask.ndim == 3:
            mask = mask[None]
        if mask.ndim == 5 and mask.shape[1] == 1:
            mask = mask[:, 0]
        expected = (num_frames, height, width)
        if mask.ndim != 4 or tuple(mask.shape[1:]) != expected or mask.shape[0] not in (1, batch):
            raise GenvidError(
                f"mask must have shape (height, width), (frames, height, width) or (batch, frames, height, width) "
                f"matching the video {expected}, got {tuple(mask.shape)}"
            )
        frames, rows, columns = grid
        spatial = height // rows
        temporal = (num_frames - 1) // (frames - 1) if frames > 1 else 1
        first = mask[:, :1]
        rest = rearrange(mask[:, 1:], "b (t k) h w -> b t k h w", k=temporal).any(dim=2) if frames > 1 else first[:, :0]
        mask = torch.cat([first, rest], dim=1)
        mask = rearrange(mask, "b t (h p) (w q) -> b t h w (p q)", p=spatial, q=spatial).any(dim=-1)
        return mask.expand(batch, -1, -1, -1)

    # ------------------------------------------------------------------ generation
    def step_callback(self, callback, tensor_inputs, allowed, num_tokens: int):
        """``callback_on_step_end(pipe, index, None, {"latents": codes so far})`` after each token.
        ``latents`` are the sampled target codes so far ``(batch, index + 1)``: each id minus the start
        of its allowed range (tokenizer codes for a video target, codec codes for sound); codes the
        callback returns replace them."""
        if callback is None:
            return None
        allowed_at = allowed if callable(allowed) else lambda index: allowed
        starts = torch.tensor([allowed_at(index)[0] for index in range(num_tokens)])

        def on_token(index, tokens):
            start = starts[: index + 1].to(tokens.device)
            current = {"latents": tokens - start}
            changed = callback(self, index, None, {name: current[name] for name in tensor_inputs}) or {}
            return changed["latents"] + start if "latents" in changed else None

        return on_token

    # ------------------------------------------------------------------ long video
    def roll(self, task, inputs, batch, device, sample, window_frames, context_frames) -> TaskOutput:
        """A video longer than one window: the task makes the first window (continuation: the given
        clip is it), then each next window continues on the last ``context_frames`` latent frames
        with the continuation task, as it was trained; the ids are joined into one stream."""
        total, rows, columns = self.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        window = self.latent_shape(window_frames, inputs.height, inputs.width)[0]
        spans = windows(total, window, context_frames)
        if task.name == "continue":
            grid = self.tokenize(repeat_rows(inputs.video, batch, "video"), device)
        else:
            first = replace(inputs, num_frames=window_frames)
            example, tokens = sample(task, first, None)
            grid = self.transformer.vocabulary.video_to_ids(task.finish(self, first, example, tokens).video_ids)
        continuation = get_task("continue")
        while grid.shape[1] < total:
            start, end = next((start, end) for start, end in spans if end > grid.shape[1])
            example = TaskExample(flatten_grid(grid[:, start:]), target_length=(end - grid.shape[1]) * rows * columns)
            _, tokens = sample(continuation, inputs, example)
            grid = torch.cat([grid, rearrange(tokens, "b (t h w) -> b t h w", h=rows, w=columns)], dim=1)
        return TaskOutput(video_ids=self.transformer.vocabulary.ids_to_video(grid))

    @torch.no_grad()
    def __call__(
        self, prompt: str | list[str] | None = None, negative_prompt: str | list[str] | None = None,
        image: Any = None, video: Any = None, mask: Any = None, audio: Any = None, task: str | ARTask | None = None,
        num_frames: int | None = None, height: int = 64, width: int = 64,
        temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, guidance_scale: float | None = None,
        num_videos_per_prompt: int = 1, generator: torch.Generator | list[torch.Generator] | None = None,
        prompt_embeds: torch.Tensor | None = None, prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None, negative_prompt_attention_mask: torch.Tensor | None = None,
        output_type: str = "np", return_dict: bool = True, static_cache: bool | None = None, compile: bool = False,
        callback_on_step_end=None, callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        window_frames: int | None = 17, context_frames: int = 2,
    ):
        # 1. check the inputs
        tensor_inputs = self.callback_inputs(callback_on_step_end, callback_on_step_end_tensor_inputs)
        self.check_inputs(prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
                          negative_prompt_attention_mask, num_videos_per_prompt, output_type, temperature, top_k, top_p,
                          tensor_inputs)
        self._guidance_scale = self.config.default_guidance_scale if guidance_scale is None else guidance_scale
        self._interrupt = False
        device, model = self._execution_device, self.transformer

        # 2. encode the text; find the task the inputs ask for (one prompt serves many clips)
        text, text_mask, negative_text, negative_mask = self.encode_prompt(
            prompt, negative_prompt, self._guidance_scale != 1.0, num_videos_per_prompt, device, prompt_embeds,
            prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask,
        )
        task, inputs = self.prepare_task(task, image, video, mask, audio, num_frames, height, width, bool(text_mask.any()))
        rows = task.input_rows(inputs)
        if text.shape[0] == num_videos_per_prompt and rows > 1:
            text, text_mask, negative_text, negative_mask = (
                None if tensor is None else tensor.repeat(rows, *[1] * (tensor.ndim - 1))
                for tensor in (text, text_mask, negative_text, negative_mask)
            )
        batch = text.shape[0]
        if isinstance(generator, list) and len(generator) != batch:
            raise GenvidError(f"got {len(generator)} generators for {batch} videos; give one, or one per video")
        # a text-free task keeps the text positions, masked out (as trained)
        text_mask = text_mask & task.uses_text

        # 3.-4. the task's conditioning and prefix; sample the target tokens (window by window past one)
        guided = self._guidance_scale != 1.0 and task.uses_text and bool(text_mask.any())

        def sample(task, inputs, example):
            example, sequence = self.prepare_sequence(task, inputs, batch, text.shape[1], device, example)
            self._num_timesteps = example.target_length
            allowed = task.allowed(model.vocabulary)
            return example, generate(
                model, sequence.prefix_ids, example.target_length, text.to(model.dtype), text_mask,
                guidance_scale=self._guidance_scale if guided else 1.0, temperature=temperature, top_k=top_k, top_p=top_p,
                allowed=allowed, forced=example.forced, generator=generator,
                static_cache=torch.device(device).type == "cuda" if static_cache is None else static_cache, compile=compile,
                progress=not getattr(self, "_progress_bar_config", {}).get("disable", False),
                callback=self.step_callback(callback_on_step_end, tensor_inputs, allowed, example.target_length),
                negative_text_hidden_states=negative_text, negative_text_mask=negative_mask, interrupt=lambda: self.interrupt,
            )

        if window_frames is not None and task.name in ROLLING_TASKS and inputs.num_frames > window_frames:
            output = self.roll(task, inputs, batch, device, sample, window_frames, context_frames)
        else:
            example, tokens = sample(task, inputs, None)
            output = task.finish(self, inputs, example, tokens)

        # 5. tokens -> video (and sound)
        frames_out, audio_out = self.decode(output, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames_out,) if audio_out is None else (frames_out, audio_out)
        return GenVidPipelineOutput(frames=frames_out, audio=audio_out)


GenVidARPipeline.__call__.__doc__ = CALL_DOCUMENTATION + EXAMPLE
