"""Text-to-video (and image-to-video) with genvid's latent diffusion transformer.

Loading: ``GenVidDiffusionPipeline.from_pretrained(path)`` rebuilds every component, including the
ones whose classes live outside diffusers (``model_index.json`` records ``["genvid",
"VideoDiffusionTransformer"]``, ``["genvid", "TextEncoder"]``, ``["tokenizer", "VideoTokenizer"]``).
The bare ``diffusers.DiffusionPipeline.from_pretrained(path)`` does not work for a genvid folder:
diffusers looks for the pipeline class inside diffusers itself and fails with ``module diffusers
has no attribute GenVidDiffusionPipeline``. Always load through this class.

The sampling steps live in :class:`DiffusionSampling`, which needs none of diffusers' pipeline base:
``GenVidDiffusionPipeline`` (in :mod:`genvid.pipelines.diffusion_pipeline`, importable from here) is
that plus ``DiffusionPipeline``, and the command line runs the same steps on
:class:`genvid.pipelines.standalone.StandalonePipeline`, sparing every ``genvid generate`` the
import of diffusers' whole model zoo that ``diffusers.pipelines`` brings.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from genvid.errors import GenvidError
from genvid.pipelines.common import (
    GenVidPipelineMixin,
    as_video_tensor,
    check_prompt_inputs,
    image_to_tensor,
    postprocess_video,
    random_noise,
)
from genvid.pipelines.conditioning import STRUCTURES, keyframe_guide, latent_index, parse_keyframes, windows

CALL_DOCUMENTATION = """Generate videos.

        Args:
            prompt: one text or a list (one video per prompt, times ``num_videos_per_prompt``).
            negative_prompt: text the unconditional branch uses (default: the empty prompt).
            image: first frame for image-to-video: PIL image, path, or tensor ``(C,H,W)``/``(B,C,H,W)``
                in [-1, 1]; resized and center-cropped to ``height x width``, kept fixed while sampling.
            num_frames: ``1 + 4k`` (the tokenizer's causal temporal compression).
            num_inference_steps: denoising steps. None: the pipeline's ``default_num_inference_steps``
                (30, or what its model_index.json holds: 8 for a guidance-distilled one).
            guidance_scale: classifier-free guidance; ``<= 1`` skips the unconditional pass. None: the
                pipeline's ``default_guidance_scale`` (5, or what its model_index.json holds); 1 (one
                transformer evaluation a step) when its model_index.json says ``guidance_distilled``.
            generator: seeds the initial noise (a list: one per video).
            latents: initial noise ``(batch, channels, frames, h, w)`` instead of drawing it.
            prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask:
                what :meth:`encode_prompt` returns, instead of ``prompt`` / ``negative_prompt``.
            output_type: "np", "pil", "pt" or "latent" (normalized latents, not decoded).
            read_prompt: encode a prompt that is far from the training captions' words as the caption
                it is read as (genvid.pipelines.prompt_reading: its words matched to the captions' by
                the text encoder; needs ``caption_words.safetensors`` in the folder). A prompt close to
                the captions is always encoded as it is. None: the pipeline's ``read_prompts``
                (model_index.json).
            callback_on_step_end: ``fn(pipe, step, timestep, tensors: dict) -> dict`` called after
                each step with ``callback_on_step_end_tensor_inputs``; returned tensors replace them;
                ``pipe._interrupt = True`` skips the steps left.
            audio: a soundtrack to follow (pipelines with an audio codec): a sound or video file path
                or a waveform ``(samples,)`` / ``(batch, samples)`` at the codec's rate; cut or padded
                to ``num_frames`` at the codec's video fps. Guidance drops it with the text.
            keyframes: ``[(image, frame index), ...]``: frames given at any positions (first and last:
                interpolation), each kept clean in its latent frame (``image=`` is frame 0's case).
            video: video-to-video: a clip ``(3, num_frames, H, W)`` / ``(B, 3, ...)`` in [-1, 1];
                sampling starts from its latents noised to the scheduler's level at ``strength``
                (0 returns the input's latents, 1 ignores it), as diffusers' video-to-video does.
            structure: with ``video``, start from the input's structure map instead of the input:
                ``"grey"`` (:func:`genvid.pipelines.conditioning.grey_structure`: shape and motion
                kept, colour from the prompt: stylization).
            segment_frames: the window one pass generates (the model's training length, 17); a longer
                ``num_frames`` is made window by window, each continuing on the last
                ``context_frames`` latent frames of the one before (memory flat in length). None:
                one pass whatever the length.
        Returns:
            :class:`genvid.pipelines.common.GenVidPipelineOutput` (or ``(frames,)`` if not ``return_dict``).
        """

EXAMPLE = """
    Examples:
        >>> import torch
        >>> from genvid import GenVidDiffusionPipeline
        >>> from genvid.data import write_video
        >>> from genvid.pipelines.common import frames_to_video
        >>> pipe = GenVidDiffusionPipeline.from_pretrained("path/to/exported/dit")
        >>> frames = pipe("a red circle moving left", num_frames=17, height=64, width=64, output_type="pt",
        ...               generator=torch.Generator().manual_seed(0)).frames[0]   # (17, 3, 64, 64) in [0, 1]
        >>> write_video("red_circle.mp4", frames_to_video(frames))
        >>> # a pipeline with an audio codec also takes a soundtrack to follow (path or waveform)
        >>> video = pipe("a shape moving", audio="tone.wav").frames[0]
"""


def _pad_text(hidden_states: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(batch_i, length_i, dim)`` text batches to one common length (mask False)."""
    length = max(hidden.shape[1] for hidden in hidden_states)
    padded, padded_masks = [], []
    for hidden, mask in zip(hidden_states, masks):
        extra = length - hidden.shape[1]
        padded.append(torch.nn.functional.pad(hidden, (0, 0, 0, extra)))
        padded_masks.append(torch.nn.functional.pad(mask.bool(), (0, extra), value=False))
    return torch.cat(padded), torch.cat(padded_masks)


class DiffusionSampling(GenVidPipelineMixin):
    """Text-to-video with a rectified-flow DiT over a causal video tokenizer's latents: the steps of
    :class:`~genvid.pipelines.diffusion_pipeline.GenVidDiffusionPipeline`, on whatever pipeline base
    (diffusers' ``DiffusionPipeline``, or the command line's standalone one) comes after it.

    Components: ``video_tokenizer`` (``tokenizer.VideoTokenizer``, Gaussian bottleneck),
    ``text_encoder`` (``genvid.text.TextEncoder``), ``transformer``
    (:class:`genvid.models.dit.VideoDiffusionTransformer`), ``scheduler``
    (``FlowMatchEulerDiscreteScheduler``) and, optionally, ``audio_codec`` (``tokenizer.AudioCodec``,
    None for a model without audio conditioning).
    """

    component_modules = ("genvid.models.dit", "genvid.text", "tokenizer")
    model_cpu_offload_seq = "text_encoder->transformer->video_tokenizer"
    #: guidance's unconditional branch without a negative prompt: the empty prompt (trained as dropped text)
    default_negative_prompt = ""
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]
    _optional_components = ["audio_codec"]

    def __init__(
        # scheduler: diffusers' FlowMatchEulerDiscreteScheduler (not annotated: the name would need diffusers here)
        self, video_tokenizer, text_encoder, transformer, scheduler, audio_codec=None,
        default_guidance_scale: float = 5.0, guidance_distilled: bool = False, default_num_inference_steps: int = 30,
        read_prompts: bool = False,
    ):
        super().__init__()
        self.register_modules(
            video_tokenizer=video_tokenizer,
            text_encoder=text_encoder,
            transformer=transformer,
            scheduler=scheduler,
            audio_codec=audio_codec,
        )
        # saved in model_index.json: the guidance a trained model is best sampled with
        # and, for a guidance-distilled transformer (its conditional stream already follows the
        # guided velocity), that no unconditional stream is run by default, in few steps
        self.register_to_config(
            default_guidance_scale=default_guidance_scale,
            guidance_distilled=guidance_distilled,
            default_num_inference_steps=default_num_inference_steps,
            read_prompts=read_prompts,
        )

    # ------------------------------------------------------------------------------------------
    # pieces

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent ``(frames, height, width)`` for a video size; one clear error if it does not fit."""
        patch = self.transformer.config.patch_size
        patch_t = self.transformer.config.patch_size_t
        spatial = getattr(self.video_tokenizer, "spatial_factor", None)
        if spatial and (height % (spatial * patch) or width % (spatial * patch) or min(height, width) <= 0):
            raise GenvidError(
                f"height and width must be positive multiples of {spatial * patch} (tokenizer {spatial}x times "
                f"patch {patch}); got {height}x{width}"
            )
        try:
            frames, latent_height, latent_width = self.video_tokenizer.latent_shape(num_frames, height, width)
        except ValueError as error:
            raise GenvidError(str(error).splitlines()[0]) from None
        if latent_height % patch or latent_width % patch:
            raise GenvidError(
                f"height and width must be multiples of {height // latent_height * patch} (tokenizer times patch "
                f"{patch}); got {height}x{width}"
            )
        if frames % patch_t:
            raise GenvidError(
                f"{num_frames} frames give {frames} latent frames, not a multiple of the temporal patch {patch_t}"
            )
        return frames, latent_height, latent_width

    def check_inputs(
        self, prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
        negative_prompt_attention_mask, num_frames, height, width, num_inference_steps, num_videos_per_prompt,
        output_type, callback_on_step_end_tensor_inputs,
    ) -> None:
        check_prompt_inputs(prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
                            negative_prompt_attention_mask)
        if num_inference_steps < 1:
            raise GenvidError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        self.check_call_options(num_videos_per_prompt, output_type, callback_on_step_end_tensor_inputs)
        self.latent_shape(num_frames, height, width)

    def _encode_text(self, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = self.text_encoder.encode(list(prompts), device=device)
        return hidden.to(device), mask.to(device).bool()

    def encode_image(
        self, image: Any, num_prompts: int, num_videos_per_prompt: int, height: int, width: int, device
    ) -> torch.Tensor:
        """The image(s) as the first latent frame, normalized: ``(videos, channels, 1, h, w)``.
        One image for all videos, one per prompt, or one per video."""
        pixels = image_to_tensor(image, height, width)
        videos = num_prompts * num_videos_per_prompt
        if pixels.shape[0] not in (1, num_prompts, videos):
            raise GenvidError(
                f"got {pixels.shape[0]} images for {num_prompts} prompts x {num_videos_per_prompt} videos; "
                f"give 1, {num_prompts} or {videos}"
            )
        tokenizer = self.video_tokenizer
        pixels = pixels.to(device=device, dtype=tokenizer.dtype)
        latents = tokenizer.normalize_latents(tokenizer.encode(pixels)).float()
        if latents.shape[0] == 1:
            return latents.expand(videos, -1, -1, -1, -1).clone()
        if latents.shape[0] == num_prompts:
            return latents.repeat_interleave(num_videos_per_prompt, dim=0)
        return latents

    def encode_audio(self, audio: Any, num_frames: int, videos: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """A soundtrack (path or waveform at the codec's rate) -> codes ``(videos, levels, frames)``
        and the waveform they encode ``(videos, samples)``, read once and cut or zero-padded to
        ``num_frames`` video frames."""
        codec = getattr(self, "audio_codec", None)
        if codec is None or not self.transformer.config.num_audio_codebooks:
            raise GenvidError("audio conditioning needs a pipeline with an audio codec and a DiT trained with audio")
        from genvid.data.audio_io import as_waveform

        waveform = as_waveform(audio, codec.config.sample_rate)
        if waveform.shape[0] not in (1, videos):
            raise GenvidError(f"got {waveform.shape[0]} soundtracks for {videos} videos; give 1 or {videos}")
        waveform = codec.fit_to_frames(waveform.to(device), codec.frames_for_video(num_frames))
        codes = codec.encode(waveform.to(codec.dtype), num_codebooks=self.transformer.config.num_audio_codebooks)
        if codes.shape[0] == 1:
            codes, waveform = codes.expand(videos, -1, -1), waveform.expand(videos, -1)
        return codes, waveform

    def prepare_audio(self, audio: Any, num_frames: int, videos: int, device) -> tuple[dict, torch.Tensor | None]:
        """The transformer's audio inputs (none for the unconditional branch) and the waveform to return."""
        if audio is None:
            return {}, None
        codes, waveform = self.encode_audio(audio, num_frames, videos, device)
        present = torch.ones(videos, dtype=torch.bool, device=device)
        if self.do_classifier_free_guidance:
            return {"audio_codes": torch.cat([codes, codes]), "audio_mask": torch.cat([present, ~present])}, waveform.cpu()
        return {"audio_codes": codes, "audio_mask": present}, waveform.cpu()

    def encode_given(self, image, keyframes, num_frames, num_prompts, num_videos_per_prompt, height, width, device):
        """Latents of the given frames ``(videos, c, frames, h, w)`` (zeros elsewhere) and which latent
        frames are given ``(frames,)`` bool: ``image`` as frame 0, ``keyframes`` at their positions."""
        frames, latent_height, latent_width = self.latent_shape(num_frames, height, width)
        videos = num_prompts * num_videos_per_prompt
        given = torch.zeros(videos, self.transformer.config.in_channels, frames, latent_height, latent_width, device=device)
        given_frames = torch.zeros(frames, dtype=torch.bool, device=device)
        if keyframes:
            keyframes = parse_keyframes(keyframes, num_frames)
            guide = keyframe_guide(keyframes, num_frames, height, width)
            tokenizer = self.video_tokenizer
            latents = tokenizer.normalize_latents(tokenizer.encode(guide.to(device, tokenizer.dtype))).float()
            for _, index in keyframes:
                position = latent_index(index)
                given[:, :, position] = self._repeat(latents[:, :, position], num_prompts, num_videos_per_prompt, "keyframe")
                given_frames[position] = True
        if image is not None:
            given[:, :, :1] = self.encode_image(image, num_prompts, num_videos_per_prompt, height, width, device)
            given_frames[0] = True
        return given, given_frames

    @staticmethod
    def _repeat(tensor: torch.Tensor, num_prompts: int, num_videos_per_prompt: int, what: str) -> torch.Tensor:
        videos = num_prompts * num_videos_per_prompt
        if tensor.shape[0] == videos:
            return tensor
        if tensor.shape[0] == 1:
            return tensor.expand(videos, *tensor.shape[1:])
        if tensor.shape[0] == num_prompts:
            return tensor.repeat_interleave(num_videos_per_prompt, dim=0)
        raise GenvidError(f"got {tensor.shape[0]} {what}s for {num_prompts} prompts x {num_videos_per_prompt} videos")

    def encode_source(self, video, structure, num_frames, videos, height, width, device) -> torch.Tensor:
        """The clip to start from (video-to-video), as normalized latents ``(videos, c, frames, h, w)``;
        ``structure`` names a map of it to use instead (:data:`~genvid.pipelines.conditioning.STRUCTURES`)."""
        clip = as_video_tensor(video)
        if tuple(clip.shape[2:]) != (num_frames, height, width):
            raise GenvidError(
                f"video has shape {tuple(clip.shape[2:])} (frames, height, width); expected ({num_frames}, {height}, {width})"
            )
        if structure is not None:
            if structure not in STRUCTURES:
                raise GenvidError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
            clip = STRUCTURES[structure](clip)
        if clip.shape[0] not in (1, videos):
            raise GenvidError(f"got {clip.shape[0]} videos to start from for {videos} outputs; give 1 or {videos}")
        tokenizer = self.video_tokenizer
        latents = tokenizer.normalize_latents(tokenizer.encode(clip.to(device, tokenizer.dtype))).float()
        return latents.expand(videos, -1, -1, -1, -1)

    def prepare_latents(self, shape, device, generator, latents=None) -> torch.Tensor:
        if latents is not None:
            if tuple(latents.shape) != tuple(shape):
                raise GenvidError(f"latents must have shape {tuple(shape)} for these inputs, got {tuple(latents.shape)}")
            # A copy: sampling writes into it (the image frame), and the caller's tensor must not change.
            return latents.to(device=device, dtype=torch.float32, copy=True)
        # float32 for the scheduler's updates whatever the transformer's dtype.
        return random_noise(shape, generator=generator, device=device, dtype=torch.float32)

    def guidance_text(self, prompt_embeds, prompt_mask, negative_prompt_embeds, negative_mask):
        """The transformer's text batch: conditional rows, then (with guidance) the negative ones."""
        if not self.do_classifier_free_guidance:
            return prompt_embeds, prompt_mask
        return _pad_text([prompt_embeds, negative_prompt_embeds], [prompt_mask, negative_mask])

    def start_from(self, source: torch.Tensor, noise: torch.Tensor, strength: float, num_inference_steps: int):
        """Video-to-video, diffusers' img2img rule: skip the first ``1 - strength`` of the steps and
        start from ``source`` noised to the level of the first step left. -> (latents, timesteps)."""
        self.scheduler.set_timesteps(num_inference_steps, device=noise.device)
        skipped = num_inference_steps - min(int(num_inference_steps * strength), num_inference_steps)
        timesteps = self.scheduler.timesteps[skipped * self.scheduler.order :]
        self.scheduler.set_begin_index(skipped * self.scheduler.order)
        if len(timesteps) == 0:
            return source.clone(), timesteps
        if hasattr(self.scheduler, "scale_noise"):  # diffusers' flow-matching Euler names it so
            return self.scheduler.scale_noise(source, timesteps[:1], noise), timesteps
        return self.scheduler.add_noise(source, noise, timesteps[:1]), timesteps

    def denoise(self, latents, timesteps, texts, known, audio_kwargs, callback, tensor_inputs) -> torch.Tensor:
        """The sampling loop. ``texts``: (prompt_embeds, prompt_mask, negative_prompt_embeds,
        negative_mask); ``known``: None or ``(values (B, c, f, h, w), frames (f,) bool)``, latent
        frames held at those values and said clean (noise level 0): the image, keyframes, the
        previous window's last frames. A callback may replace ``latents`` and the embeddings between
        steps, and ``pipe._interrupt = True`` skips the steps left."""
        prompt_embeds, prompt_mask, negative_prompt_embeds, negative_mask = texts
        if known is not None and not known[1].any():
            known = None
        if known is not None:
            known_values, known_frames = known
            hold = known_frames[None, None, :, None, None]
        text, text_mask = self.guidance_text(*texts)
        dtype, branches = self.transformer.dtype, 2 if self.do_classifier_free_guidance else 1
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for step, timestep in enumerate(timesteps):
                if self.interrupt:
                    continue
                if known is not None:
                    latents = torch.where(hold, known_values, latents)
                model_input = torch.cat([latents] * branches).to(dtype)
                model_timestep = timestep.expand(model_input.shape[0])
                if known is not None:
                    # The given frames are clean: they say so with noise level 0.
                    model_timestep = torch.where(known_frames[None], 0.0, model_timestep[:, None].repeat(1, latents.shape[2]))
                velocity = self.transformer(
                    model_input, model_timestep, text.to(dtype), text_mask, return_dict=False, **audio_kwargs
                )[0].float()
                if self.do_classifier_free_guidance:
                    conditional, unconditional = velocity.chunk(2)
                    velocity = unconditional + self.guidance_scale * (conditional - unconditional)
                latents = self.scheduler.step(velocity, timestep, latents, return_dict=False)[0]
                if callback is not None:
                    current = {"latents": latents, "prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_prompt_embeds}
                    changed = callback(self, step, timestep, {name: current[name] for name in tensor_inputs}) or {}
                    latents = changed.pop("latents", latents)
                    prompt_embeds = changed.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = changed.pop("negative_prompt_embeds", negative_prompt_embeds)
                    text, text_mask = self.guidance_text(prompt_embeds, prompt_mask, negative_prompt_embeds, negative_mask)
                progress_bar.update()
        if known is not None:
            latents = torch.where(hold, known_values, latents)
        return latents

    def decode_latents(self, latents: torch.Tensor, output_type: str):
        if output_type == "latent":
            return latents
        tokenizer = self.video_tokenizer
        latents = tokenizer.denormalize_latents(latents.to(tokenizer.dtype))
        if tokenizer.is_discrete:
            # A discrete tokenizer's decoder only saw its grid: snap the DiT's latents onto it.
            latents = tokenizer.ids_to_latents(tokenizer.latents_to_ids(latents))
        return postprocess_video(tokenizer.decode(latents), output_type)

    # ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        image: Any = None,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        audio: Any = None,
        keyframes: list | None = None,
        video: Any = None,
        strength: float = 0.6,
        structure: str | None = None,
        segment_frames: int | None = 17,
        context_frames: int = 2,
        read_prompt: bool | None = None,
    ):
        # 1. Check inputs
        num_inference_steps, tensor_inputs = self._check_call(
            prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
            negative_prompt_attention_mask, num_frames, height, width, num_inference_steps, num_videos_per_prompt,
            output_type, guidance_scale, callback_on_step_end, callback_on_step_end_tensor_inputs,
        )
        device = self._execution_device
        frames, latent_height, latent_width = self.latent_shape(num_frames, height, width)

        # 2. Encode the prompt (and the negative prompt for guidance)
        texts = self.encode_prompt(
            prompt, negative_prompt, self.do_classifier_free_guidance, num_videos_per_prompt, device, prompt_embeds,
            prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask,
            read_prompt=self.reads_prompts(read_prompt),
        )
        batch_size = texts[0].shape[0]

        if not 0 <= strength <= 1:
            raise GenvidError(f"strength must be in [0, 1], got {strength}")
        if structure is not None and video is None:
            raise GenvidError("structure is a map of the input video: give video= too")

        # 3. Encode what is given: latent frames kept clean (image, keyframes) and a video to start from
        num_prompts = batch_size // num_videos_per_prompt
        given = self.encode_given(image, keyframes, num_frames, num_prompts, num_videos_per_prompt, height, width, device)
        source = None
        if video is not None:
            source = self.encode_source(video, structure, num_frames, batch_size, height, width, device)

        # 3b. Encode the soundtrack; the unconditional branch has none
        audio_kwargs, audio_out = self.prepare_audio(audio, num_frames, batch_size, device)

        # 4. Windows: one, or for a video longer than segment_frames overlapping ones
        window = frames if segment_frames is None else self.latent_shape(segment_frames, height, width)[0]
        spans = [(0, frames)] if window >= frames else windows(frames, window, context_frames)
        if len(spans) > 1 and audio is not None:
            raise GenvidError("audio conditioning follows one window; give num_frames <= segment_frames with audio")

        # 5. Initial noise for the whole video
        shape = (batch_size, self.transformer.config.in_channels, frames, latent_height, latent_width)
        latents = self.prepare_latents(shape, device, generator, latents)

        # 6. Denoise window by window, each taking the frames already made (and the given ones) as clean
        latents = self.denoise_windows(
            latents, spans, given, source, strength, num_inference_steps, texts, audio_kwargs, callback_on_step_end,
            tensor_inputs,
        )

        # 7. Decode and post-process
        return self.call_output(self.decode_latents(latents, output_type), audio_out, return_dict)

    def _check_call(
        self, prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
        negative_prompt_attention_mask, num_frames, height, width, num_inference_steps, num_videos_per_prompt,
        output_type, guidance_scale, callback_on_step_end, callback_on_step_end_tensor_inputs,
    ) -> tuple[int, list[str]]:
        """Every argument checked, the defaults of this pipeline's folder filled in; returns the
        number of steps and the tensors the step callback sees."""
        if num_inference_steps is None:
            num_inference_steps = self.config.get("default_num_inference_steps", 30)
        tensor_inputs = self.callback_inputs(callback_on_step_end, callback_on_step_end_tensor_inputs)
        self.check_inputs(
            prompt, negative_prompt, prompt_embeds, negative_prompt_embeds, prompt_attention_mask,
            negative_prompt_attention_mask, num_frames, height, width, num_inference_steps, num_videos_per_prompt,
            output_type, tensor_inputs,
        )
        if guidance_scale is None:
            guidance_scale = 1.0 if self.config.get("guidance_distilled", False) else self.config.default_guidance_scale
        self._guidance_scale = guidance_scale
        self._interrupt = False
        return num_inference_steps, tensor_inputs

    def denoise_windows(
        self, latents, spans, given, source, strength, num_inference_steps, texts, audio_kwargs, callback, tensor_inputs
    ) -> torch.Tensor:
        """Denoise ``latents`` span by span; each span takes the frames already made (and the given
        ones) as clean, and starts from noise or, with ``source``, from the source noised to ``strength``."""
        device = latents.device
        frames = latents.shape[2]
        made = torch.zeros(frames, dtype=torch.bool, device=device)
        for start, end in spans:
            known_frames = (given[1] | made)[start:end]
            known_values = torch.where(made[None, None, :, None, None], latents, given[0])[:, :, start:end]
            noise = latents[:, :, start:end]
            if source is None:
                self.scheduler.set_timesteps(num_inference_steps, device=device)
                window_latents, timesteps = noise, self.scheduler.timesteps
            else:
                window_latents, timesteps = self.start_from(source[:, :, start:end], noise, strength, num_inference_steps)
            self._num_timesteps = len(timesteps)
            latents[:, :, start:end] = self.denoise(
                window_latents, timesteps, texts, (known_values, known_frames), audio_kwargs, callback, tensor_inputs,
            )
            made[start:end] = True
        return latents


DiffusionSampling.__call__.__doc__ = CALL_DOCUMENTATION + EXAMPLE


def __getattr__(name: str):
    # The diffusers pipeline class imports diffusers.pipelines (and with it every diffusers model):
    # only when asked for.
    if name == "GenVidDiffusionPipeline":
        from genvid.pipelines.diffusion_pipeline import GenVidDiffusionPipeline

        return GenVidDiffusionPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
