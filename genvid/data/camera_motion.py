"""Video clips from still photographs by a simulated camera: pans, zooms, small rotations, brightness drift.

A photograph seen through a moving virtual camera has what a tokenizer must learn from real footage
(natural textures, edges, colours, and their coherent motion) without any video download. Each clip
is one affine warp per frame (``grid_sample``), its parameters drawn from a ``(seed, index)`` random
generator, so a clip is the same in every worker, epoch and machine.

Example::

    >>> from genvid.data.real_images import bundled_images, load_image
    >>> image = load_image(bundled_images("train")[0])                    # (3, H, W) in [-1, 1]
    >>> clip = camera_motion_clip(image, num_frames=17, height=64, width=64, seed=3)   # (3, 17, 64, 64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from genvid.data.seeded import SplitClipDataset
from genvid.errors import GenvidError


@dataclass(frozen=True)
class CameraPath:
    """Start and end of each camera parameter; frames interpolate between them (eased)."""

    center_start: tuple[float, float]  # window centre, pixels from the image centre (x, y)
    center_end: tuple[float, float]
    zoom_start: float  # window size multiplier (> 1 shows more of the image)
    zoom_end: float
    angle_start: float  # radians
    angle_end: float
    gain_start: float  # brightness multiplier
    gain_end: float
    window: float  # window width in source pixels at zoom 1
    flip: bool


def sample_camera_path(
    image_height: int,
    image_width: int,
    num_frames: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    still: bool = False,
    max_speed: float = 3.0,
    max_zoom_change: float = 0.3,
    max_rotation_degrees: float = 5.0,
    max_brightness_drift: float = 0.15,
) -> CameraPath:
    """Draw one camera path. ``max_speed`` is in output pixels per frame."""
    aspect = height / width
    # Window between native resolution and the whole shorter side, log-uniform: both fine texture and
    # downscaled whole scenes, as real footage has.
    largest = min(image_width, image_height / aspect)
    smallest = min(float(width), largest)
    window = float(math.exp(rng.uniform(math.log(smallest), math.log(largest))))
    scale = window / width  # source pixels per output pixel
    span = max(num_frames - 1, 1)

    def moves(probability: float) -> bool:
        return (not still) and rng.random() < probability

    zoom_start = zoom_end = 1.0
    if moves(0.35):
        change = rng.uniform(0.05, max_zoom_change)
        zoom_start, zoom_end = (1.0, 1.0 - change) if rng.random() < 0.5 else (1.0 - change, 1.0)
    angle_start = angle_end = 0.0
    if moves(0.3):
        limit = math.radians(max_rotation_degrees)
        angle_start, angle_end = rng.uniform(-limit, limit, size=2)
    gain_start = gain_end = 1.0
    if moves(0.3):
        gain_start, gain_end = 1.0 + rng.uniform(-max_brightness_drift, max_brightness_drift, size=2)

    # How far the window centre may go while the (rotated, zoomed) window stays inside the image.
    zoom = max(zoom_start, zoom_end)
    angle = max(abs(angle_start), abs(angle_end))
    half_width = zoom * window / 2 * (math.cos(angle) + aspect * math.sin(angle))
    half_height = zoom * window / 2 * (aspect * math.cos(angle) + math.sin(angle))
    room_x = max(image_width / 2 - half_width, 0.0)
    room_y = max(image_height / 2 - half_height, 0.0)
    start = np.array([rng.uniform(-room_x, room_x), rng.uniform(-room_y, room_y)])
    end = start.copy()
    if moves(0.7):
        speed = rng.uniform(0.5, max_speed) * scale
        direction = rng.uniform(0, 2 * math.pi)
        end = start + speed * span * np.array([math.cos(direction), math.sin(direction)])
        end = np.clip(end, [-room_x, -room_y], [room_x, room_y])
    return CameraPath(
        center_start=(float(start[0]), float(start[1])),
        center_end=(float(end[0]), float(end[1])),
        zoom_start=float(zoom_start),
        zoom_end=float(zoom_end),
        angle_start=float(angle_start),
        angle_end=float(angle_end),
        gain_start=float(gain_start),
        gain_end=float(gain_end),
        window=window,
        flip=bool(rng.random() < 0.5),
    )


def render_camera_path(image: torch.Tensor, path: CameraPath, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Film ``image`` (3, H, W) in [-1, 1] along ``path``: a (3, num_frames, height, width) clip."""
    if path.flip:
        image = image.flip(-1)
    scale = path.window / width
    # Bilinear sampling of a much larger image aliases: shrink it first (antialiased) so the camera
    # samples at about one source pixel per output pixel.
    if scale > 1.5:
        shrink = 1.0 / scale
        image = F.interpolate(
            image[None], scale_factor=shrink, mode="bilinear", antialias=True, align_corners=False,
            recompute_scale_factor=False,
        )[0]
    else:
        shrink = 1.0
    image_height, image_width = image.shape[-2:]
    times = torch.linspace(0, 1, num_frames, dtype=torch.float64)
    times = 0.5 - 0.5 * torch.cos(math.pi * times)  # ease in and out, as a camera operator does

    def lerp(start: float, end: float) -> torch.Tensor:
        return start + (end - start) * times

    center_x = lerp(path.center_start[0], path.center_end[0]) * shrink
    center_y = lerp(path.center_start[1], path.center_end[1]) * shrink
    zoom = lerp(path.zoom_start, path.zoom_end)
    angle = lerp(path.angle_start, path.angle_end)
    half_width = zoom * path.window * shrink / 2
    half_height = half_width * height / width
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates in [-1, 1] to input ones in [-1, 1]; pixels -> normalised
    # by the image's half sizes, which differ for a non-square image.
    theta = torch.stack(
        [
            torch.stack([cos * half_width, -sin * half_height, center_x], dim=-1) / (image_width / 2),
            torch.stack([sin * half_width, cos * half_height, center_y], dim=-1) / (image_height / 2),
        ],
        dim=1,
    ).float()
    grid = F.affine_grid(theta, [num_frames, 3, height, width], align_corners=False)
    frames = F.grid_sample(
        image[None].expand(num_frames, -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
        align_corners=False,
    )
    gain = lerp(path.gain_start, path.gain_end).float().view(num_frames, 1, 1, 1)
    frames = ((frames + 1) * gain - 1).clamp(-1, 1)
    return frames.permute(1, 0, 2, 3).contiguous()


def camera_motion_clip(
    image: torch.Tensor,
    num_frames: int = 17,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
    still: bool = False,
    **path_options,
) -> torch.Tensor:
    """A (3, num_frames, height, width) clip of ``image`` (3, H, W) in [-1, 1], deterministic in ``seed``.

    ``still=True`` keeps the camera fixed (a photograph shown as a motionless clip).
    ``path_options``: ``max_speed``, ``max_zoom_change``, ``max_rotation_degrees``, ``max_brightness_drift``.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise GenvidError(f"camera_motion_clip expects an image (3, H, W), got shape {tuple(image.shape)}")
    if num_frames < 1 or height < 1 or width < 1:
        raise GenvidError(f"camera_motion_clip: num_frames, height, width must be >= 1, got {num_frames}, {height}, {width}")
    rng = np.random.default_rng([int(seed) & (2**63 - 1), 52_711])
    path = sample_camera_path(image.shape[1], image.shape[2], num_frames, height, width, rng, still, **path_options)
    return render_camera_path(image.float(), path, num_frames, height, width)


class CameraMotionDataset(SplitClipDataset):
    """``num_samples`` camera-motion clips of bundled photographs (genvid.data.real_images).

    Item ``i`` films image ``i mod len(images)`` (in a seed-dependent order) along a path drawn from
    ``(seed, i)``; a ``still_fraction`` of the clips keep the camera fixed. With ``num_frames = 1``
    every item is a still image. Items: ``{"video": (3,T,H,W), "caption": str, "image": name}``.
    (Stills stay clips of ``num_frames`` frames so that they batch with moving clips; the causal
    encoder sees every clip's first frame alone anyway, which is how it encodes an image.)
    """

    def __init__(
        self,
        split: str = "train",
        num_samples: int = 10000,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        seed: int = 0,
        still_fraction: float = 0.1,
    ):
        from genvid.data.real_images import bundled_images

        super().__init__(bundled_images(split), split, num_samples, num_frames, height, width, seed, order_key=104_729)
        if not 0.0 <= still_fraction <= 1.0:
            raise GenvidError(f"still_fraction must be within [0, 1], got {still_fraction}")
        self.still_fraction = float(still_fraction)

    def __getitem__(self, index: int) -> dict:
        from genvid.data.real_images import load_image

        image = self.entry(index)
        rng = np.random.default_rng([self.seed, index, 3])
        still = self.num_frames == 1 or rng.random() < self.still_fraction
        clip = camera_motion_clip(
            load_image(image), self.num_frames, self.height, self.width, seed=int(rng.integers(2**62)), still=still
        )
        caption = f"a photograph of {image.name.replace('_', ' ')}" + ("" if still else ", the camera moving")
        return {"video": clip, "caption": caption, "image": image.name}


def heldout_real_clips(
    num_frames: int = 17, height: int = 64, width: int = 64, clips_per_image: int = 2, seed: int = 0
) -> list[tuple[str, torch.Tensor]]:
    """The fixed evaluation clips: ``clips_per_image`` camera-motion clips of each held-out photograph."""
    from genvid.data.real_images import bundled_images, load_image

    clips = []
    for image in bundled_images("heldout"):
        pixels = load_image(image)
        for number in range(clips_per_image):
            clip_seed = seed * 1_000 + number
            clips.append((f"{image.name}#{number}", camera_motion_clip(pixels, num_frames, height, width, seed=clip_seed)))
    return clips
