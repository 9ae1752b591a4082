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

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from einops import rearrange

from genvid.errors import GenvidError
from genvid.models.sampling import DynamicCache, generate, guidance_streams, guide, process_logits, sample_token
from genvid.models.sequence import AUDIO_TASKS, VIDEO_TASKS, build_sequence, flatten_grid, masked_condition
from genvid.pipelines.common import OUTPUT_TYPES, GenVidPipelineOutput, OwnComponentsMixin, postprocess_video

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


def _as_video_tensor(video: Any, what: str) -> torch.Tensor:
    """(C,T,H,W) or (B,C,T,H,W) tensor/array in [-1, 1] -> (B, C, T, H, W) float."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, torch.Tensor):
        raise GenvidError(f"{what} must be a tensor (channels, frames, height, width) in [-1, 1], got {type(video).__name__}")
    if video.ndim == 4:
        video = video[None]
    if video.ndim != 5 or video.shape[1] != 3:
        raise GenvidError(f"{what} must have shape (3, frames, height, width) or (batch, 3, frames, height, width), got {tuple(video.shape)}")
    return video.float()


class GenVidARPipeline(OwnComponentsMixin, DiffusionPipeline):
    """Video generation with a VideoPoet-style prefix LM over a discrete video tokenizer's ids.

    Components: ``video_tokenizer`` (``tokenizer.VideoTokenizer`` with an FSQ or LFQ bottleneck),
    ``text_encoder`` (``genvid.text.TextEncoder``), ``transformer``
    (:class:`genvid.models.lm.VideoLanguageModel`) and, optionally, ``audio_codec``
    (``tokenizer.AudioCodec``; None for a video-only model) for the v2a / a2v tasks.

    The task is inferred from the inputs: ``mask`` (with ``video``) -> inpaint, ``video`` ->
    continue, ``image`` -> i2v, ``audio`` -> a2v, no prompt -> uncond, else t2v. ``task="outpaint"``
    with a mask is the same request with the outpainting task token (``mask`` True = the area to
    generate); ``task="v2a"`` with ``video`` generates the clip's soundtrack.
    """

    component_modules = ("genvid.models.lm", "genvid.text", "tokenizer")
    model_cpu_offload_seq = "text_encoder->transformer->video_tokenizer"
    _optional_components = ["audio_codec"]

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

    def infer_task(self, prompt, image, video, mask, task, audio=None) -> str:
        if task is None:
            if audio is not None and video is None and image is None:
                task = "a2v"
            elif mask is not None:
                task = "inpaint"
            elif video is not None:
                task = "continue"
            elif image is not None:
                task = "i2v"
            elif prompt is None or all(not text.strip() for text in ([prompt] if isinstance(prompt, str) else prompt)):
                task = "uncond"
            else:
                task = "t2v"
        if task not in VIDEO_TASKS + AUDIO_TASKS:
            raise GenvidError(f"task must be one of {', '.join(VIDEO_TASKS + AUDIO_TASKS)}, got {task!r}")
        if task in AUDIO_TASKS:
            if getattr(self, "audio_codec", None) is None or self.transformer.vocabulary.num_audio_codebooks == 0:
                raise GenvidError(f"task {task!r} needs a pipeline with an audio codec and an LM trained with audio codes")
            if task == "v2a" and video is None:
                raise GenvidError("task 'v2a' needs video (the clip to give a soundtrack)")
            if task == "a2v" and audio is None:
                raise GenvidError("task 'a2v' needs audio (a waveform or a sound file)")
        elif audio is not None:
            raise GenvidError(f"audio conditions only the 'a2v' task, not {task!r}")
        needs = {"i2v": "image", "continue": "video", "inpaint": "video and mask", "outpaint": "video and mask"}
        given = {"i2v": image is not None or video is not None, "continue": video is not None,
                 "inpaint": video is not None and mask is not None, "outpaint": video is not None and mask is not None}
        if task in needs and not given[task]:
            raise GenvidError(f"task {task!r} needs {needs[task]}")
        return task

    def check_inputs(self, prompt, num_videos_per_prompt, output_type, temperature, top_k, top_p):
        if prompt is not None and not isinstance(prompt, (str, list)):
            raise GenvidError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
        if isinstance(prompt, list) and (not prompt or not all(isinstance(text, str) for text in prompt)):
            raise GenvidError("prompt must be a non-empty list of strings")
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

    # ------------------------------------------------------------------ encoding
    def encode_prompt(self, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states padded to the text encoder's ``max_length`` (a fixed prefix layout, as trained)."""
        hidden, mask = self.text_encoder.encode(prompts, device=device)
        return pad_text(hidden, mask, self.text_encoder.config.max_length)

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

    def _repeat(self, tensor: torch.Tensor, batch: int, what: str) -> torch.Tensor:
        if tensor.shape[0] == batch:
            return tensor
        if tensor.shape[0] != 1:
            raise GenvidError(f"got {tensor.shape[0]} {what}s for {batch} videos; give 1 or {batch}")
        return tensor.expand(batch, *tensor.shape[1:])

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
        video: Any = None,
        mask: Any = None,
        task: str | None = None,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        guidance_scale: float | None = None,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        static_cache: bool | None = None,
        compile: bool = False,
        callback_on_step_end=None,
        audio: Any = None,
    ):
        """Generate videos.

        Args:
            prompt: text or texts; ``None`` or ``""`` with no conditioning = unconditional (an empty
                prompt is the text-free stream the model was trained with).
            image: first frame for image-to-video (PIL image, path, or tensor (3, H, W) in [-1, 1]).
            video: (3, T, H, W) or (B, 3, T, H, W) in [-1, 1]: the given frames for continuation
                (T = 1 + 4k, fewer than ``num_frames``) or the clip to in/outpaint (T = ``num_frames``).
            mask: pixels to generate (True) for inpaint/outpaint: (H, W), (T, H, W) or (B, T, H, W).
            task: force a task (t2v, i2v, continue, inpaint, outpaint, uncond); inferred when None.
            temperature, top_k, top_p: sampling; ``temperature=0`` or ``top_k=1`` is greedy.
            guidance_scale: classifier-free guidance on the logits (1 = off; the text-free stream is
                batched with the conditional one). None: the pipeline's ``default_guidance_scale``
                (3, or what its model_index.json holds).
            generator: a torch.Generator; the same seed gives the same video.
            output_type: "np", "pil", "pt" or "latent" (token ids (B, t, h, w)).
            static_cache: pre-allocated KV cache (default: on CUDA); ``compile``: compile its
                decode step with CUDA graphs (first call slow, then much less host overhead).
            callback_on_step_end: ``callback(pipeline, index, None, {"tokens": ids so far})`` after each
                sampled token (diffusers' signature; the timestep slot is None for an AR model).
            audio: a2v: the soundtrack to make a video for: a waveform ``(samples,)`` / ``(batch, samples)``
                at the audio codec's sample rate, or a sound or video file path (resampled); cut or
                zero-padded to ``num_frames`` at the codec's video fps.

        Returns ``GenVidPipelineOutput(frames, audio)``: ``audio`` (batch, samples) in [-1, 1] is the
        generated soundtrack for v2a (``frames`` are then the given clip; with ``output_type="latent"``
        the clip's token ids and the sound's codec codes (batch, levels, frames)), the conditioning
        sound for a2v, else None.
        """
        self.check_inputs(prompt, num_videos_per_prompt, output_type, temperature, top_k, top_p)
        if guidance_scale is None:
            guidance_scale = self.config.default_guidance_scale
        task = self.infer_task(prompt, image, video, mask, task, audio)
        if task == "v2a":
            num_frames, height, width = _as_video_tensor(video, "video").shape[2:]
        device = self._execution_device
        model = self.transformer
        vocabulary = model.vocabulary
        grid = self.latent_shape(num_frames, height, width)
        frames, rows, columns = grid

        # 1. prompts -> text hidden states, padded to the text encoder's max_length
        prompts = [prompt] if isinstance(prompt, str) else list(prompt or [""])
        if task in AUDIO_TASKS and len(prompts) == 1:
            # a batch of clips (or sounds) with one prompt: one output per clip
            from genvid.data.audio_io import as_waveform

            given = _as_video_tensor(video, "video") if task == "v2a" else as_waveform(audio)
            prompts = prompts * given.shape[0]
        batch = len(prompts) * num_videos_per_prompt
        text, text_mask = self.encode_prompt(prompts, device)
        text = text.repeat_interleave(num_videos_per_prompt, dim=0)
        text_mask = text_mask.repeat_interleave(num_videos_per_prompt, dim=0)
        # no text (the unconditional task, an empty prompt) is trained as dropped text: the text
        # positions stay, masked out of attention
        empty = torch.tensor([not prompt_text.strip() for prompt_text in prompts], device=device)
        empty = empty.repeat_interleave(num_videos_per_prompt) | (task == "uncond")
        text_mask = text_mask & ~empty[:, None]
        text_length = text.shape[1]

        # 2. conditioning video (or audio) -> tokens
        condition, given_grid, forced, condition_audio, audio_out = None, None, None, None, None
        target_length = frames * rows * columns
        if task in AUDIO_TASKS:
            codec = self.audio_codec
            codec_frames = codec.frames_for_video(num_frames)
            levels = vocabulary.num_audio_codebooks
        if task == "v2a":
            clip = self._repeat(_as_video_tensor(video, "video"), batch, "video")
            condition = flatten_grid(self.tokenize(clip, device))
            target_length = codec_frames * levels
        elif task == "a2v":
            from genvid.data.audio_io import as_waveform

            waveform = self._repeat(as_waveform(audio, codec.config.sample_rate), batch, "soundtrack")
            waveform = codec.fit_to_frames(waveform.to(device), codec_frames)
            codes = codec.encode(waveform.to(codec.dtype), num_codebooks=levels)
            condition_audio = vocabulary.audio_to_ids(codes)
            audio_out = waveform.float().cpu()
        elif task == "i2v":
            if frames < 2:
                raise GenvidError("image-to-video needs num_frames > 1 (at least 1 + 4 frames)")
            if image is not None:
                from genvid.pipelines.diffusion import image_to_tensor

                pixels = image_to_tensor(image, height, width)
            else:
                pixels = _as_video_tensor(video, "video")[:, :, :1]
            pixels = self._repeat(pixels, batch, "image")
            given_grid = self.tokenize(pixels, device)
            condition, target_length = flatten_grid(given_grid), (frames - 1) * rows * columns
        elif task == "continue":
            clip = self._repeat(_as_video_tensor(video, "video"), batch, "video")
            given_frames = self.latent_shape(*clip.shape[2:])[0]
            if clip.shape[3:] != (height, width):
                raise GenvidError(f"video frames are {tuple(clip.shape[3:])}, expected ({height}, {width}) (height, width)")
            if given_frames >= frames:
                raise GenvidError(f"video has {clip.shape[2]} frames; continuation needs fewer than num_frames={num_frames}")
            given_grid = self.tokenize(clip, device)
            condition, target_length = flatten_grid(given_grid), (frames - given_frames) * rows * columns
        elif task in ("inpaint", "outpaint"):
            clip = self._repeat(_as_video_tensor(video, "video"), batch, "video")
            if tuple(clip.shape[2:]) != (num_frames, height, width):
                raise GenvidError(
                    f"video to {task} has shape {tuple(clip.shape[2:])} (frames, height, width), expected "
                    f"({num_frames}, {height}, {width})"
                )
            region = self.mask_to_grid(mask, batch, num_frames, height, width, grid).to(device)
            ids = self.tokenize(clip, device)
            condition = flatten_grid(masked_condition(ids, region))
            forced = torch.where(flatten_grid(region), torch.full_like(condition, -1), flatten_grid(ids))

        # 3. the prefix, checked against the model's context
        sequence = build_sequence(
            task,
            batch,
            text_length,
            condition,
            target_length=target_length,
            condition_audio_ids=condition_audio,
            target_kind="audio" if task == "v2a" else "video",
            device=device,
        )
        needed = sequence.prefix_length + target_length
        context = model.config.max_sequence_length
        if needed > context:
            raise GenvidError(
                f"prompt and conditioning ({sequence.prefix_length} tokens) plus {target_length} target tokens "
                f"need {needed} positions, more than the model's context (max_sequence_length={context}); "
                f"use fewer frames or a smaller size"
            )

        # 4. sample the target tokens
        if static_cache is None:
            static_cache = torch.device(device).type == "cuda"
        # a text-free audio task has no text to guide by: both streams would be the same
        use_guidance = guidance_scale != 1.0 and task != "uncond" and bool(text_mask.any())
        progress = not getattr(self, "_progress_bar_config", {}).get("disable", False)
        if task == "v2a":
            tokens = generate_audio(
                model,
                sequence.prefix_ids,
                target_length,
                text_hidden_states=text.to(model.dtype),
                text_mask=text_mask,
                guidance_scale=guidance_scale if use_guidance else 1.0,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                generator=generator,
                progress=progress,
            )
            codes = vocabulary.ids_to_audio(tokens)
            clip = self._repeat(_as_video_tensor(video, "video"), batch, "video")
            if output_type == "latent":  # the clip's token ids and the sound's codec codes
                frames_out = vocabulary.ids_to_video(rearrange(condition, "b (t h w) -> b t h w", t=frames, h=rows, w=columns))
                audio_out = codes
            else:
                frames_out = postprocess_video(clip, output_type)
                audio_out = self.audio_codec.decode(codes).float().clamp(-1, 1).cpu()
            self.maybe_free_model_hooks()
            if not return_dict:
                return (frames_out, audio_out)
            return GenVidPipelineOutput(frames=frames_out, audio=audio_out)
        tokens = generate(
            model,
            sequence.prefix_ids,
            target_length,
            text_hidden_states=text.to(model.dtype),
            text_mask=text_mask,
            guidance_scale=guidance_scale if use_guidance else 1.0,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            allowed=vocabulary.allowed_range("video"),
            forced=forced,
            generator=generator,
            static_cache=static_cache,
            compile=compile,
            progress=progress,
            callback=None if callback_on_step_end is None
            else lambda index, so_far: callback_on_step_end(self, index, None, {"tokens": so_far}),
        )

        # 5. tokens -> video
        if given_grid is not None:
            tokens = torch.cat([flatten_grid(given_grid), tokens], dim=1)
        codes = vocabulary.ids_to_video(rearrange(tokens, "b (t h w) -> b t h w", t=frames, h=rows, w=columns))
        if output_type == "latent":
            frames_out = codes
        else:
            decoded = self.video_tokenizer.detokenize(codes)
            frames_out = postprocess_video(decoded, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames_out,) if audio_out is None else (frames_out, audio_out)
        return GenVidPipelineOutput(frames=frames_out, audio=audio_out)


GenVidARPipeline.__call__.__doc__ += EXAMPLE


def pad_text(hidden: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (or cut) text to ``length`` positions, so that every batch has the same layout."""
    hidden, mask = hidden[:, :length], mask[:, :length].bool()
    extra = length - hidden.shape[1]
    return F.pad(hidden, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)


@torch.no_grad()
def generate_audio(
    model,
    prefix_ids: torch.Tensor,
    num_tokens: int,
    text_hidden_states=None,
    text_mask=None,
    guidance_scale: float = 1.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Sample an audio target after a prefix ending with ``<boa_out>``: token ``i`` is drawn only
    among the ids of codebook level ``i % num_audio_codebooks`` (codes are interleaved frame by
    frame), so every sampled id decodes. Same guidance and sampling rules as
    :func:`genvid.models.sampling.generate`; the eager (dynamic) cache only."""
    from tqdm.auto import tqdm

    vocabulary = model.vocabulary
    levels = vocabulary.num_audio_codebooks
    batch, prefix_length = prefix_ids.shape
    if prefix_length + num_tokens > model.config.max_sequence_length:
        raise GenvidError(
            f"prefix ({prefix_length} tokens) + {num_tokens} audio tokens is longer than the model's context "
            f"(max_sequence_length={model.config.max_sequence_length})"
        )
    device = prefix_ids.device
    prefix_ids, text_hidden_states, text_mask, streams = guidance_streams(
        prefix_ids, text_hidden_states, text_mask, guidance_scale
    )
    prefix_lengths = torch.full((prefix_ids.shape[0],), prefix_length, dtype=torch.long, device=device)
    cache = DynamicCache(model)
    logits = model(prefix_ids, text_hidden_states, text_mask, prefix_lengths, cache=cache, num_logits=1)[:, -1]
    tokens = torch.empty(batch, num_tokens, dtype=torch.long, device=device)
    for index in tqdm(range(num_tokens), desc="audio tokens", disable=not progress, leave=False):
        allowed = vocabulary.audio_level_range(index % levels)
        guided = process_logits(guide(logits.float(), guidance_scale), temperature, top_k, top_p, allowed)
        token = sample_token(guided, temperature, generator)
        tokens[:, index] = token
        if index == num_tokens - 1:
            break
        logits = model(token[:, None].repeat(streams, 1), prefix_length=prefix_lengths, cache=cache)[:, -1]
    return tokens
