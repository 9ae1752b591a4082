"""Prompt-following analyzer for clips in the style of the synthetic set (genvid.data.synthetic).

Reads colour, shape and motion of the one object on a plain background without any learned model:

- background: the per-frame median colour (the object covers a few percent of the frame);
- object mask: pixels whose colour differs from the background by more than a threshold;
- colour: the mean colour of the mask's core pixels -> nearest named colour;
- shape: fill ratio of the mask in its bounding box (circle ~0.785, square ~1.0, triangle ~0.5),
  with the triangle told apart by where its mass sits (low: it points up), which blur keeps;
- motion: the centroid's displacement from the first to the last frames.

Frames that wrap around (the long synthetic clips of ``render_clip(travel_frames=...)``: the part of
the object past one edge comes in at the opposite one) are read as the torus they are: an object
cut by an edge is put back together before its centre and shape are measured, and the track is
unwrapped (a jump of more than half the frame between two seen frames is a wrap, not a move the
other way). A clip in which no object touches two opposite edges reads exactly as without this.

A generated clip that shows nothing (or a smear) gets ``None`` for what cannot be read.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

from genvid.data.synthetic import COLORS, parse_caption

_COLOR_NAMES = list(COLORS)
_COLOR_VALUES = np.asarray([COLORS[name] for name in _COLOR_NAMES], dtype=np.float32)

# A pixel belongs to the object when its colour is this far (max over channels, 0-255) from the
# background; the dimmest named colour is >150 away from any synthetic background.
MASK_THRESHOLD = 60.0
# Frames whose mask is smaller than this fraction of the frame are treated as "object not seen",
# and so are frames where "the object" covers more than MAX_AREA_FRACTION (noise, a colour wash):
# the synthetic object covers about 5-6% of the frame.
MIN_AREA_FRACTION = 0.002
MAX_AREA_FRACTION = 0.3
# The triangle points up, so its mass sits low: the vertical skewness of its row mass is about
# -0.57 (circle and square: 0). Blur (generated or decoded clips) rounds a triangle's corners and
# raises its fill ratio towards a circle's, but leaves the skewness's sign and much of its size.
TRIANGLE_SKEW = -0.15
# Fill ratio (area over soft bounding box) between circle (0.785) and square (1.0); blur and
# noise move both by up to ~0.1 at 32x32.
CIRCLE_SQUARE_BOUNDARY = 0.86
# The centroid must travel this fraction of the frame for a motion to count.
MIN_TRAVEL_FRACTION = 0.08
# A named colour farther than this (RGB distance) from the object's mean colour is not claimed.
MAX_COLOR_DISTANCE = 110.0
# The least share of the named colour (vs. the background) a blurred object's core may show.
MIN_BLEND = 0.5


def _to_uint8_frames(video) -> np.ndarray:
    """Accept (C,T,H,W) float in [-1,1] (torch or numpy) or (T,H,W,3) uint8; return float32 (T,H,W,3)."""
    if isinstance(video, torch.Tensor):
        if video.dtype == torch.uint8:
            return video.cpu().numpy().astype(np.float32)
        video = video.detach().float().cpu().numpy()
    video = np.asarray(video)
    if video.dtype == np.uint8:
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"a uint8 clip must be (frames, height, width, 3), got {video.shape}")
        return video.astype(np.float32)
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"a float clip must be (3, frames, height, width) in [-1, 1], got {video.shape}")
    frames = (np.clip(video, -1, 1) + 1) * 127.5
    return np.ascontiguousarray(frames.transpose(1, 2, 3, 0)).astype(np.float32)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a (T, H, W) mask by one pixel (4-neighbourhood) so the anti-aliased rim is kept."""
    grown = mask.copy()
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    grown[:, :, 1:] |= mask[:, :, :-1]
    grown[:, :, :-1] |= mask[:, :, 1:]
    return grown


def _object_pixels(frames: np.ndarray):
    """``(background (T, 3), difference (T, H, W), mask, visible (T,), core)`` of float frames: the
    per-frame median colour, each pixel's largest channel distance to it, the object's pixels, the
    frames where the object is seen, and the object's core (its strongly different pixels)."""
    num_frames, height, width, _ = frames.shape
    background = np.median(frames.reshape(num_frames, -1, 3), axis=1)
    difference = np.abs(frames - background[:, None, None, :]).max(axis=-1)
    mask = difference > MASK_THRESHOLD
    areas = mask.sum(axis=(1, 2))
    visible = (areas >= MIN_AREA_FRACTION * height * width) & (areas <= MAX_AREA_FRACTION * height * width)
    # Colour from the core of the object (strongly different pixels), which edge blending and
    # chroma subsampling leave alone.
    core = mask & (difference > 0.6 * difference.max(axis=(1, 2), keepdims=True))
    core &= visible[:, None, None]
    return background, difference, mask, visible, core


def _soft_coverage(difference: np.ndarray, mask: np.ndarray, core: np.ndarray) -> np.ndarray:
    """(T, H, W) in [0, 1]: 0 = background, 1 = the object's colour. Soft coverage keeps the fill
    ratio right for small objects, where whole edge pixels would swing a thresholded mask's ratio
    by a lot."""
    contrast = max(float(np.median(difference[core])), MASK_THRESHOLD)
    return np.clip(difference / contrast, 0.0, 1.0) * _dilate(mask)


def _unsplit_shifts(mass: np.ndarray) -> np.ndarray:
    """``(N,)`` rolls (``np.roll`` shifts) that make each 1-D mass profile of ``mass (N, S)`` whole:
    0 unless a profile is occupied at both ends with an empty stretch between (an object cut by the
    frame's edge), then the roll that moves its longest empty stretch to the end."""
    shifts = np.zeros(len(mass), dtype=np.int64)
    occupied = mass > 0
    for index in np.flatnonzero(occupied[:, 0] & occupied[:, -1] & ~occupied.all(axis=1)):
        empty = np.flatnonzero(~occupied[index])  # both ends are occupied: no run wraps around
        breaks = np.flatnonzero(np.diff(empty) > 1)
        starts = np.concatenate([empty[:1], empty[breaks + 1]])
        ends = np.concatenate([empty[breaks], empty[-1:]])
        shifts[index] = -(ends[np.argmax(ends - starts)] + 1)
    return shifts


def _rolled(mass: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each profile of ``mass (N, S)`` rolled by its shift (the unshifted ones untouched)."""
    if not shifts.any():
        return mass
    mass = mass.copy()
    for index in np.flatnonzero(shifts):
        mass[index] = np.roll(mass[index], shifts[index])
    return mass


def _centres_on_axis(mass: np.ndarray, area: np.ndarray, positions: np.ndarray, wraps: bool):
    """``(centres (N,), rolled mass (N, S), shifts (N,))``: the centre of mass of each profile of
    ``mass (N, S)`` at ``positions (S,)``; with ``wraps``, of the profile made whole (see
    :func:`_unsplit_shifts`) and brought back into ``[0, S)``."""
    shifts = _unsplit_shifts(mass) if wraps else np.zeros(len(mass), dtype=np.int64)
    rolled = _rolled(mass, shifts)
    centres = (rolled * positions).sum(axis=1) / area
    for index in np.flatnonzero(shifts):
        centres[index] = (centres[index] - shifts[index]) % mass.shape[1]
    return centres, rolled, shifts


def _unwrapped(track: np.ndarray, height: int, width: int) -> np.ndarray:
    """A ``(N, 2)`` track of (x, y) centres with each wrap undone: a jump of more than half the frame
    between consecutive entries is the object crossing an edge of a frame that wraps around."""
    if len(track) < 2:
        return track
    unwrapped = track.copy()
    for axis, size in ((0, width), (1, height)):
        unwrapped[:, axis] = np.unwrap(unwrapped[:, axis], period=size)
    return unwrapped


def object_centres(video, wraps: bool = True) -> np.ndarray:
    """The object's centre in each frame, ``(T, 2)`` float ``(x, y)`` in pixels (+x right, +y down,
    pixel ``i`` spanning ``[i, i + 1)``, as :func:`genvid.data.synthetic.object_path` gives the
    truth); NaN in frames where no object is seen. The centre of the soft coverage's mass; with
    ``wraps``, of the object made whole when an edge cuts it (within the frame, as object_path)."""
    frames = _to_uint8_frames(video)
    num_frames, height, width, _ = frames.shape
    _, difference, mask, visible, core = _object_pixels(frames)
    centres = np.full((num_frames, 2), np.nan)
    if not visible.any():
        return centres
    coverage = _soft_coverage(difference, mask, core)[visible]
    area = coverage.sum(axis=(1, 2))
    centres[visible, 0] = _centres_on_axis(coverage.sum(axis=1), area, np.arange(width) + 0.5, wraps)[0]
    centres[visible, 1] = _centres_on_axis(coverage.sum(axis=2), area, np.arange(height) + 0.5, wraps)[0]
    return centres


def _shape_from(fill_ratio: float, vertical_skew: float) -> str:
    if vertical_skew < TRIANGLE_SKEW:
        return "triangle"
    if fill_ratio < CIRCLE_SQUARE_BOUNDARY:
        return "circle"
    return "square"


def analyze_clip(video, wraps: bool = True) -> dict:
    """Read ``{"color", "shape", "motion"}`` from one clip (None where nothing can be read).

    Also returns the measurements behind them: ``fill_ratio``, ``vertical_skew``, ``displacement``
    (x, y in pixels, image coordinates: +x right, +y down), ``visible_frames``.
    ``wraps``: read the frame as wrapping around (see the module's notes); False measures plain
    positions, so an object crossing an edge of a wrapping clip seems to jump back across the frame.
    """
    frames = _to_uint8_frames(video)
    num_frames, height, width, _ = frames.shape
    background, difference, mask, visible, core = _object_pixels(frames)
    result = {"color": None, "shape": None, "motion": None, "fill_ratio": None, "vertical_skew": None,
              "displacement": None, "visible_frames": int(visible.sum())}
    if not visible.any():
        return result

    # Blur mixes the object with the background: a pixel is background + a * (colour - background)
    # with a <= 1. So each named colour is matched as the nearest point on its segment from the
    # background (a in [MIN_BLEND, 1]), not only at its end.
    mean_color = frames[core].mean(axis=0)
    mean_background = (background[:, None, None, :] * core[..., None]).sum(axis=(0, 1, 2)) / core.sum()
    offset = mean_color - mean_background
    directions = _COLOR_VALUES - mean_background
    blend = np.clip(directions @ offset / (directions * directions).sum(axis=1), MIN_BLEND, 1.0)
    distances = np.linalg.norm(offset[None, :] - blend[:, None] * directions, axis=1)
    if distances.min() <= MAX_COLOR_DISTANCE:
        result["color"] = _COLOR_NAMES[int(distances.argmin())]

    # per seen frame: fill ratio, the vertical skewness of the row mass, the centroid
    coverage = _soft_coverage(difference, mask, core)[visible]
    soft_width = coverage.max(axis=1).sum(axis=1)
    soft_height = coverage.max(axis=2).sum(axis=1)
    soft_area = coverage.sum(axis=(1, 2))
    fill_ratios = soft_area / np.maximum(soft_width * soft_height, 1e-6)
    rows = np.arange(height, dtype=np.float32)
    centre_x = _centres_on_axis(coverage.sum(axis=1), soft_area, np.arange(width, dtype=np.float32), wraps)[0]
    centre_y, row_mass, row_shifts = _centres_on_axis(coverage.sum(axis=2), soft_area, rows, wraps)
    # the skewness about the centre of the (whole) object, in its rolled rows
    rolled_centre_y = np.where(row_shifts != 0, (row_mass * rows).sum(axis=1) / soft_area, centre_y)
    offsets = rows[None, :] - rolled_centre_y[:, None]
    variance = ((row_mass * offsets**2).sum(axis=1) / soft_area).astype(np.float64)
    third_moment = ((row_mass * offsets**3).sum(axis=1) / soft_area).astype(np.float64)
    skews = third_moment / np.maximum(variance, 1e-6) ** 1.5
    fill_ratio = float(np.median(fill_ratios))
    skew = float(np.median(skews))
    result["fill_ratio"] = fill_ratio
    result["vertical_skew"] = skew
    result["shape"] = _shape_from(fill_ratio, skew)

    if len(soft_area) >= 2:
        track = np.stack([centre_x, centre_y], axis=1).astype(np.float64)
        if wraps:
            track = _unwrapped(track, height, width)
        # Average the first and last quarter of the track: robust to one odd frame at either end.
        span = max(1, len(track) // 4)
        delta_x, delta_y = track[-span:].mean(axis=0) - track[:span].mean(axis=0)
        result["displacement"] = (float(delta_x), float(delta_y))
        if max(abs(delta_x) / width, abs(delta_y) / height) >= MIN_TRAVEL_FRACTION:
            if abs(delta_x) / width >= abs(delta_y) / height:
                result["motion"] = "right" if delta_x > 0 else "left"
            else:
                result["motion"] = "down" if delta_y > 0 else "up"
    return result


def evaluate_prompt_following(videos: Iterable, captions_or_labels: Sequence) -> dict:
    """Accuracy of generated clips against what their prompts asked for.

    ``captions_or_labels``: captions (parsed with genvid.data.synthetic.parse_caption) or
    ``(color, shape, motion)`` tuples / dicts. Returns ``color_accuracy``, ``shape_accuracy``,
    ``motion_accuracy``, ``all_accuracy`` (all three right) and ``num_clips``.
    """
    counts = {"color": 0, "shape": 0, "motion": 0, "all": 0}
    total = 0
    for video, target in zip(videos, captions_or_labels):
        if isinstance(target, str):
            target = parse_caption(target)
        elif isinstance(target, dict):
            target = (target.get("color"), target.get("shape"), target.get("motion"))
        found = analyze_clip(video)
        hits = [found[key] == wanted for key, wanted in zip(("color", "shape", "motion"), target)]
        for key, hit in zip(("color", "shape", "motion"), hits):
            counts[key] += int(hit)
        counts["all"] += int(all(hits))
        total += 1
    if total == 0:
        raise ValueError("evaluate_prompt_following needs at least one clip")
    return {f"{key}_accuracy": value / total for key, value in counts.items()} | {"num_clips": total}
