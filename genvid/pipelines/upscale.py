"""Video super-resolution as a diffusers-style pipeline: a clip in, the clip ``scale_factor`` times larger out.

Loading: ``GenVidUpscalePipeline.from_pretrained(path)`` (``model_index.json`` records
``["genvid.models.super_resolution", "VideoSuperResolution"]`` for its one component,
``upscaler``); the shipped demo is ``genvid.demo_path("upscale")``. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from genvid.errors import GenvidError
from genvid.pipelines.common import (GenVidPipelineOutput, OwnComponentsMixin, as_video_tensor, check_output_type,
                                     postprocess_video)

EXAMPLE = """
    Examples:
        >>> import genvid
        >>> from genvid.pipelines.upscale import GenVidUpscalePipeline
        >>> pipe = GenVidUpscalePipeline.from_pretrained(genvid.demo_path("upscale"))
        >>> low = torch.rand(3, 17, 64, 64) * 2 - 1                          # (C, T, H, W) in [-1, 1]
        >>> pipe(video=low, output_type="pt").frames.shape                      # (1, 17, 3, 128, 128) in [0, 1]
"""

#: frames upsampled at once by default: memory stays flat in the clip's length, the result is the same
DEFAULT_CHUNK_FRAMES = 17
OUTPUT_TYPES = ("np", "pil", "pt")


def video_from_input(video: Any) -> torch.Tensor:
    """A clip as ``(B, 3, T, H, W)`` in [-1, 1] from a tensor / array in [-1, 1], a list of PIL
    frames, or a video file's path."""
    if isinstance(video, (str, Path)):
        from genvid.data import read_video

        if not Path(video).is_file():
            raise GenvidError(f"video file not found: {video}")
        video = read_video(video)
    elif isinstance(video, (list, tuple)) and video and all(hasattr(frame, "convert") for frame in video):
        frames = np.stack([np.asarray(frame.convert("RGB"), dtype=np.float32) for frame in video])  # t h w c
        video = torch.from_numpy(frames / 127.5 - 1.0).permute(3, 0, 1, 2)
    return as_video_tensor(video, "video")


class GenVidUpscalePipeline(OwnComponentsMixin, DiffusionPipeline):
    """``scale_factor`` x super-resolution of videos with a :class:`genvid.models.super_resolution.VideoSuperResolution`.

    Component: ``upscaler``. ``scale_factor`` reads the model's.
    """

    component_modules = ("genvid.models.super_resolution",)
    model_cpu_offload_seq = "upscaler"

    def __init__(self, upscaler):
        super().__init__()
        self.register_modules(upscaler=upscaler)

    @property
    def scale_factor(self) -> int:
        return int(self.upscaler.config.scale_factor)

    def check_inputs(self, video: torch.Tensor, output_type: str, chunk_frames: int | None) -> None:
        check_output_type(output_type, OUTPUT_TYPES)
        if chunk_frames is not None and chunk_frames < 1:
            raise GenvidError(f"chunk_frames must be >= 1 (or None for the whole clip), got {chunk_frames}")
        if min(video.shape[2:]) < 1:
            raise GenvidError(f"video is empty: shape {tuple(video.shape)}")
        if not torch.isfinite(video).all():
            raise GenvidError("video holds NaN or infinite values")

    @torch.no_grad()
    def __call__(
        self,
        video: Any = None,
        output_type: str = "np",
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
        chunk_frames: int | None = DEFAULT_CHUNK_FRAMES,
    ):
        """Upsample ``video`` ``scale_factor`` times on each side.

        Args:
            video: ``(3, T, H, W)`` or ``(B, 3, T, H, W)`` tensor / array in [-1, 1], a list of PIL
                frames, or a video file's path.
            output_type: "np" ``(B, T, H*s, W*s, 3)`` in [0, 1], "pil" (lists of frames) or "pt"
                ``(B, T, 3, H*s, W*s)`` in [0, 1].
            generator: accepted as every genvid pipeline takes one; the upscaler draws no
                randomness, so the same input always gives the same output.
            return_dict: a :class:`GenVidPipelineOutput` (else a tuple ``(frames,)``).
            chunk_frames: frames upsampled at once (each chunk reads the frames it depends on
                before it, so the result equals the whole clip's); None = all at once.
        """
        # 1. check inputs
        video = video_from_input(video)
        self.check_inputs(video, output_type, chunk_frames)
        # 2. upsample (the model is causal in time, so chunks of frames give the whole clip's result)
        device = self._execution_device
        upscaled = self.upscaler.upscale_in_chunks(video.to(device, self.upscaler.dtype), chunk_frames)
        # 3. post-process
        frames = postprocess_video(upscaled.clamp(-1, 1), output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return GenVidPipelineOutput(frames=frames)


GenVidUpscalePipeline.__call__.__doc__ += EXAMPLE


def load_upscale_pipeline(path: str | None = None, device: str = "cpu") -> GenVidUpscalePipeline:
    """An upscale pipeline from a folder (default: the shipped demo), with one-line errors for a
    folder that is not one."""
    from genvid.commands.checks import local_folder, read_json

    if path is None:
        from genvid.demo import demo_path

        path = demo_path("upscale")
    folder = local_folder(path, "--pipeline", "upscale pipeline")
    index = folder / "model_index.json"
    name = read_json(index, "--pipeline").get("_class_name") if index.is_file() else None
    if name != GenVidUpscalePipeline.__name__:
        raise GenvidError(f"{folder} is not an upscale pipeline folder (model_index.json names {name or 'nothing'})")
    pipeline = GenVidUpscalePipeline.from_pretrained(str(folder))
    pipeline.set_progress_bar_config(leave=False)
    return pipeline.to(device)
