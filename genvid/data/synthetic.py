"""A synthetic captioned video set: one coloured shape moving across a plain dark background.

8 colours x 3 shapes x 4 motions = 96 combinations. ``HELDOUT_COMBINATIONS`` (8 of them) never
appear in ``split="train"``, so a model can be tested on compositions it has not seen: each held-out
colour, shape and motion still appears in training, only the combination is new.

Everything is deterministic in the seed and drawn with numpy in a few vectorised operations, so
rendering thousands of clips on a CPU is cheap (well under a millisecond per 17x64x64 clip).

Long clips. By default every clip is one crossing: the object covers half the frame over the clip's
length, so a 129-frame clip moves 8x slower than a 17-frame one. ``travel_frames=17`` instead keeps
a 17-frame clip's speed (about 2 px a frame at 64x64) for any length, which is what a generator
extending its own clip window by window is asked to do. A 64-pixel frame holds one crossing at that
speed, so the object stays in view the way it does in old arcade games: the frame wraps around.
The part of the object that leaves one edge comes in at the opposite edge in the same frame. The
whole object is always drawn, it never stops, and it never turns back, so its motion word stays
true all clip long. :func:`object_path` gives the true centre of the object in each frame,
for measuring keyframe interpolation and long videos. ``SyntheticVideoDataset(travel_frames=...)``
trains on such clips.

Anywhere along the path. A wrapping path has no start: ``phase`` (render_clip, object_path) starts a
clip that fraction of a lap (one frame's width or height) further along it, so a 17-frame clip can
show the object leaving one edge and coming in at the other, as windows 2-8 of a 129-frame clip do.
``SyntheticVideoDataset(phase_probability=...)`` gives that share of its clips a phase drawn
uniformly in [0, 1) from ``(seed, index)``; the others keep phase 0, today's clips byte for byte.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import torch
from genvid.data.seeded import SplitClipDataset
from genvid.errors import GenvidError

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 230),
    "yellow": (230, 220, 40),
    "purple": (150, 60, 200),
    "orange": (240, 140, 30),
    "white": (235, 235, 235),
    "cyan": (40, 210, 220),
}
#: Made-up colour words, each naming a colour above, that no shipped model has read: something new
#: to teach the demo from a handful of clips (configs/dit/demo_lora.yaml). Captions say the word;
#: clips show its colour, which is what the analyzer reads back.
NEW_COLOR_WORDS: dict[str, str] = {"blicket": "orange"}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
MOTIONS: tuple[str, ...] = ("left", "right", "up", "down")

ALL_COMBINATIONS: list[tuple[str, str, str]] = list(itertools.product(COLORS, SHAPES, MOTIONS))

#: Never shown in training. One per colour; each shape appears 2-3 times and each motion twice,
#: so every single attribute is still trained, only these pairings are new.
HELDOUT_COMBINATIONS: list[tuple[str, str, str]] = [
    ("red", "circle", "left"),
    ("green", "square", "right"),
    ("blue", "triangle", "up"),
    ("yellow", "circle", "down"),
    ("purple", "square", "up"),
    ("orange", "triangle", "left"),
    ("white", "square", "down"),
    ("cyan", "triangle", "right"),
]
TRAIN_COMBINATIONS: list[tuple[str, str, str]] = [c for c in ALL_COMBINATIONS if c not in HELDOUT_COMBINATIONS]
#: The new word: eleven combinations to learn it from, one kept back to test that it composes.
BLICKET_HELDOUT: list[tuple[str, str, str]] = [("blicket", "square", "left")]
BLICKET_TRAIN: list[tuple[str, str, str]] = [
    c for c in itertools.product(["blicket"], SHAPES, MOTIONS) if c not in BLICKET_HELDOUT
]
SPLITS = {
    "train": TRAIN_COMBINATIONS,
    "heldout": HELDOUT_COMBINATIONS,
    "all": ALL_COMBINATIONS,
    # the training combinations plus the new word's, three times over (a quarter of the clips): a
    # fine-tune that learns the word and keeps the rest
    "train_blicket": TRAIN_COMBINATIONS + BLICKET_TRAIN * 3,
    "blicket": BLICKET_TRAIN,
    "blicket_heldout": BLICKET_HELDOUT,
}


def color_value(color: str) -> tuple[int, int, int]:
    """RGB of a colour name or of a new colour word."""
    return COLORS[NEW_COLOR_WORDS.get(color, color)]

#: Ways to say each motion; the template picks one so that captions vary in wording, not meaning.
_MOTION_PHRASES = {
    "left": ("moving left", "moves to the left", "going left", "sliding to the left", "travels leftward"),
    "right": ("moving right", "moves to the right", "going right", "sliding to the right", "travels rightward"),
    "up": ("moving up", "moves upward", "going up", "sliding upward", "travels upward"),
    "down": ("moving down", "moves downward", "going down", "sliding downward", "travels downward"),
}
_TEMPLATES = (
    "{article} {color} {shape} {phrase}",
    "{article} {color} {shape} {phrase}",
    "{color} {shape} {phrase}",
    "{article} {color} {shape} {phrase} on a dark background",
    "the {color} {shape} {phrase}",
)
NUM_TEMPLATES = len(_TEMPLATES)
CAPTION_GRAMMARS = ("basic", "rich")

# Object size as a fraction of the short side ("about a quarter of the frame wide").
_SIZE_FRACTION = 0.25
# Fraction of the frame the centre travels over the clip.
_TRAVEL_FRACTION = 0.5


def caption_for(color: str, shape: str, motion: str, template: int = 0) -> str:
    """The caption of a combination, e.g. ``caption_for("red", "circle", "left", 1)`` ->
    "a red circle moves to the left"."""
    check_combination(color, shape, motion)
    template = int(template) % NUM_TEMPLATES
    phrase = _MOTION_PHRASES[motion][template]
    article = "an" if color[0] in "aeiou" else "a"
    return _TEMPLATES[template].format(article=article, color=color, shape=shape, phrase=phrase)


_WORD = re.compile(r"[a-z]+")
_MOTION_WORDS = {
    "left": "left", "leftward": "left", "right": "right", "rightward": "right",
    "up": "up", "upward": "up", "down": "down", "downward": "down",
}


def parse_caption(caption: str) -> tuple[str | None, str | None, str | None]:
    """Read ``(color, shape, motion)`` back out of a caption (None for what is not mentioned)."""
    words = _WORD.findall(caption.lower())
    color = next((NEW_COLOR_WORDS.get(word, word) for word in words if word in COLORS or word in NEW_COLOR_WORDS), None)
    shape = next((word for word in words if word in SHAPES), None)
    motion = next((_MOTION_WORDS[word] for word in words if word in _MOTION_WORDS), None)
    return color, shape, motion


def check_combination(color: str, shape: str, motion: str) -> None:
    if color not in COLORS and color not in NEW_COLOR_WORDS:
        raise GenvidError(f"unknown color {color!r}; expected one of {', '.join([*COLORS, *NEW_COLOR_WORDS])}")
    if shape not in SHAPES:
        raise GenvidError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if motion not in MOTIONS:
        raise GenvidError(f"unknown motion {motion!r}; expected one of {', '.join(MOTIONS)}")


def _coverage(shape: str, x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at the origin; ``x``/``y`` are offsets of
    pixel centres from the shape centre (broadcast over frames)."""
    if shape == "circle":
        distance = np.sqrt(x * x + y * y) - half
    elif shape == "square":
        distance = np.maximum(np.abs(x), np.abs(y)) - half
    else:
        # Upward-pointing equilateral triangle whose base is the full size and whose box is centred:
        # the intersection of three half-planes (bottom edge, two slanted sides).
        triangle_height = half * np.sqrt(3.0)
        top = -triangle_height / 2
        bottom = triangle_height / 2
        below_base = y - bottom
        # Slanted sides pass through the apex (0, top) and the base corners (+-half, bottom).
        normal_x, normal_y = triangle_height, -half  # not normalised; scaled below
        norm = np.hypot(normal_x, normal_y)
        right_side = (normal_x * x + normal_y * (y - top)) / norm
        left_side = (-normal_x * x + normal_y * (y - top)) / norm
        distance = np.maximum(below_base, np.maximum(right_side, left_side))
    return np.clip(0.5 - distance, 0.0, 1.0)


def _layout(
    shape: str, motion: str, num_frames: int, height: int, width: int, seed: int, travel_frames: int | None,
    phase: float = 0.0,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(half size, background level, centre_x (T,), centre_y (T,))`` of one clip: the centre of the
    shape's bounding box per frame, wrapped into the frame when the clip outlasts one crossing or
    starts ``phase`` of a lap further along its path."""
    rng = np.random.default_rng(seed)
    size = _SIZE_FRACTION * min(height, width) * rng.uniform(0.9, 1.1)
    half = size / 2
    background = rng.uniform(10, 40)

    # The moving axis crosses _TRAVEL_FRACTION of the frame; the start shifts within the slack left
    # by the margins, and the other axis sits anywhere that keeps the shape fully inside.
    margin = half + 1.0
    horizontal = motion in ("left", "right")
    moving_extent, still_extent = (width, height) if horizontal else (height, width)
    travel = min(_TRAVEL_FRACTION * moving_extent, moving_extent - 2 * margin)
    slack = moving_extent - 2 * margin - travel
    begin = margin + rng.uniform(0, slack)
    still = rng.uniform(margin, still_extent - margin)
    if travel_frames is None or travel_frames == num_frames:
        progress = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    else:
        # the speed of a travel_frames-long clip, kept for as long as this clip lasts
        progress = np.arange(num_frames) / max(travel_frames - 1, 1)
    position = begin + travel * progress
    if motion in ("left", "up"):
        position = begin + travel - travel * progress
    if phase:  # further along the path, in the direction of motion (phase 0 leaves today's clip)
        position = position + (-1 if motion in ("left", "up") else 1) * phase * moving_extent
    position = np.mod(position, moving_extent)  # within the frame already for one crossing
    if horizontal:
        return half, background, position, np.full(num_frames, still)
    return half, background, np.full(num_frames, still), position


def _check_size(num_frames: int, height: int, width: int, travel_frames: int | None, phase: float = 0.0) -> None:
    if num_frames < 1 or height < 8 or width < 8:
        raise GenvidError(f"a synthetic clip needs num_frames >= 1 and height, width >= 8 (got {num_frames}x{height}x{width})")
    if travel_frames is not None and travel_frames < 2:
        raise GenvidError(f"travel_frames must be >= 2 (frames over which the object crosses), got {travel_frames}")
    if not np.isfinite(phase):
        raise GenvidError(f"phase must be a finite fraction of a lap along the path, got {phase}")


def object_path(
    color: str, shape: str, motion: str, num_frames: int = 17, height: int = 64, width: int = 64, seed: int = 0,
    travel_frames: int | None = None, phase: float = 0.0,
) -> np.ndarray:
    """The true centre of the object in each frame of :func:`render_clip` (same arguments):
    ``(T, 2)`` float ``(x, y)`` in pixels, +x right, +y down, pixel ``i`` spanning ``[i, i + 1)``.

    It is the centre of the shape's area (what a tracker of its pixels measures): the box centre
    for a circle or a square, a sixth of its height below it for the upward-pointing triangle. In a
    clip that wraps (``travel_frames`` < ``num_frames``, or a ``phase``) it is the wrapped centre,
    inside the frame.
    """
    check_combination(color, shape, motion)
    _check_size(num_frames, height, width, travel_frames, phase)
    half, _, centre_x, centre_y = _layout(shape, motion, num_frames, height, width, seed, travel_frames, phase)
    if shape == "triangle":
        centre_y = np.mod(centre_y + half * np.sqrt(3.0) / 6, height)
    return np.stack([centre_x, centre_y], axis=1)


def render_clip_uint8(
    color: str, shape: str, motion: str, num_frames: int = 17, height: int = 64, width: int = 64, seed: int = 0,
    travel_frames: int | None = None, phase: float = 0.0,
) -> np.ndarray:
    """Like :func:`render_clip` but returns ``(T, H, W, 3)`` uint8 (what a codec takes)."""
    check_combination(color, shape, motion)
    _check_size(num_frames, height, width, travel_frames, phase)
    half, background, centre_x, centre_y = _layout(shape, motion, num_frames, height, width, seed, travel_frames, phase)
    wraps = (travel_frames is not None and travel_frames < num_frames) or phase != 0

    # Coverage is computed only in a window around the object (it is zero elsewhere): at 256x256
    # this is ~15x less work than shading every pixel of every frame.
    radius = int(np.ceil(half)) + 2
    box = 2 * radius
    left = np.floor(centre_x).astype(int) - radius
    top = np.floor(centre_y).astype(int) - radius
    if not wraps:  # one crossing: the window fits inside the frame
        left = np.clip(left, 0, max(width - box, 0))
        top = np.clip(top, 0, max(height - box, 0))
    box_width, box_height = min(box, width), min(box, height)
    pixel_x = left[:, None, None] + np.arange(box_width)[None, None, :] + 0.5
    pixel_y = top[:, None, None] + np.arange(box_height)[None, :, None] + 0.5
    offset_x = (pixel_x - centre_x[:, None, None]).astype(np.float32)
    offset_y = (pixel_y - centre_y[:, None, None]).astype(np.float32)
    alpha = _coverage(shape, offset_x, offset_y, half)[..., None]
    rgb = np.asarray(color_value(color), dtype=np.float32)
    patches = np.round(background + alpha * (rgb - background)).astype(np.uint8)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    frames[...] = np.round(np.float32(background)).astype(np.uint8)  # as the patches round it
    for index in range(num_frames):
        if wraps:  # the part past one edge comes in at the opposite one
            rows = (top[index] + np.arange(box_height)) % height
            columns = (left[index] + np.arange(box_width)) % width
            frames[index][np.ix_(rows, columns)] = patches[index]
        else:
            frames[index, top[index] : top[index] + box_height, left[index] : left[index] + box_width] = patches[index]
    return frames


def render_clip(
    color: str, shape: str, motion: str, num_frames: int = 17, height: int = 64, width: int = 64, seed: int = 0,
    travel_frames: int | None = None, phase: float = 0.0,
) -> torch.Tensor:
    """Render one clip as ``(3, T, H, W)`` float in [-1, 1]; the same seed gives the same clip.

    ``travel_frames``: the object crosses its travel (half the frame) in this many frames. None (the
    default): in the whole clip, whatever its length, so a long clip moves slower. Shorter than
    ``num_frames``: a long clip at the speed of a ``travel_frames``-long one (see the module's
    notes on long clips); :func:`object_path` gives the true centre per frame.
    ``phase``: start that fraction of a lap (the frame's width for left / right, its height for up /
    down) further along the path, wrapping around the frame; 0 (the default): where a clip starts."""
    frames = render_clip_uint8(color, shape, motion, num_frames, height, width, seed, travel_frames, phase)
    from genvid.data.video_io import uint8_to_video

    return uint8_to_video(frames)


# A soundtrack that names the same attributes, for audio-conditioned tasks (video-to-audio and
# back): colour -> pitch (a C-major scale), shape -> timbre, motion -> pitch glide or loudness ramp.
_COLOR_PITCH_HZ = dict(zip(COLORS, (261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3)))


def render_audio(
    color: str,
    shape: str,
    motion: str,
    num_frames: int = 17,
    fps: float = 8.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> torch.Tensor:
    """A mono waveform ``(round(num_frames / fps * sample_rate),)`` in [-1, 1] matching a clip.

    Pitch names the colour, the waveform the shape (circle: sine, square: square-ish, triangle:
    triangle), and the motion shapes the tone over time (up / down: the pitch glides a fifth up /
    down; left / right: the loudness fades out / in). ``seed`` adds a slight loudness and phase jitter.
    """
    check_combination(color, shape, motion)
    rng = np.random.default_rng([seed, 1])
    num_samples = int(round(num_frames / fps * sample_rate))
    time = np.arange(num_samples, dtype=np.float64) / sample_rate
    progress = time / max(time[-1], 1e-9) if num_samples > 1 else np.zeros(num_samples)
    pitch = _COLOR_PITCH_HZ[NEW_COLOR_WORDS.get(color, color)] * np.ones(num_samples)
    if motion == "up":
        pitch = pitch * 1.5**progress
    elif motion == "down":
        pitch = pitch * 1.5 ** (-progress)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate + rng.uniform(0, 2 * np.pi)
    if shape == "circle":
        wave = np.sin(phase)
    elif shape == "square":
        wave = np.tanh(4 * np.sin(phase)) / np.tanh(4)  # a square wave without aliasing clicks
    else:
        wave = 2 / np.pi * np.arcsin(np.sin(phase))
    loudness = 0.5 * rng.uniform(0.85, 1.0) * np.ones(num_samples)
    if motion == "left":
        loudness = loudness * (1 - 0.8 * progress)
    elif motion == "right":
        loudness = loudness * (0.2 + 0.8 * progress)
    # 10 ms fades so the clip starts and ends without a click.
    fade = np.clip(np.minimum(time, time[-1] - time) / 0.01, 0, 1) if num_samples > 1 else np.ones(num_samples)
    return torch.from_numpy((wave * loudness * fade).astype(np.float32))


class SyntheticVideoDataset(SplitClipDataset):
    """``num_samples`` clips drawn from the split's combinations, deterministic in ``seed``.

    Item ``i`` is ``{"video": (3,T,H,W) float [-1,1], "caption", "color", "shape", "motion"}``; the
    combination cycles through the split (balanced), the caption template and the per-clip jitter
    come from ``(seed, i)``, so items are the same in every worker and every epoch.
    ``captions``: "basic" (caption_for: one word per attribute) or "rich" (genvid.data.captions:
    synonyms and more sentence forms; the clips are the same).
    ``travel_frames``: see :func:`render_clip` (None: every clip one crossing of half the frame).
    ``phase_probability``: the share of clips that start at a random point of their wrapping path
    (render_clip's ``phase``, uniform in [0, 1) from ``(seed, i)``; at ``travel_frames`` speed), so the
    object crosses the frame's edge within a clip as it does in a long one; the rest start at phase
    0, the clips of ``phase_probability=0`` byte for byte. ``labels(i)["phase"]`` is the clip's phase,
and so is ``item["phase"]`` when ``phase_probability`` > 0 (items of 0 have no such key).
    With ``audio_sample_rate`` set, items also carry ``"audio"``: the matching soundtrack of
    :func:`render_audio` (the clip lasting ``num_frames / fps`` seconds).
    """

    def __init__(
        self,
        split: str = "train",
        num_samples: int = 10000,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        seed: int = 0,
        fps: float = 8.0,
        audio_sample_rate: int | None = None,
        captions: str = "basic",
        travel_frames: int | None = None,
        phase_probability: float = 0.0,
    ):
        if split not in SPLITS:
            raise GenvidError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLITS)}")
        super().__init__(SPLITS[split], split, num_samples, num_frames, height, width, seed, order_key=7919)
        if captions not in CAPTION_GRAMMARS:
            raise GenvidError(f"unknown caption grammar {captions!r}; expected one of {', '.join(CAPTION_GRAMMARS)}")
        if not 0.0 <= phase_probability <= 1.0:
            raise GenvidError(f"phase_probability must be within [0, 1], got {phase_probability}")
        self.captions = captions
        self.travel_frames = travel_frames
        self.phase_probability = float(phase_probability)
        self.fps = float(fps)
        self.audio_sample_rate = audio_sample_rate

    def labels(self, index: int) -> dict:
        """Caption and labels of item ``index`` without rendering it."""
        color, shape, motion = self.entry(index)
        rng = np.random.default_rng([self.seed, index])
        template = int(rng.integers(NUM_TEMPLATES))
        clip_seed = int(rng.integers(2**62))
        if self.captions == "rich":
            from genvid.data.captions import rich_caption

            caption = rich_caption(color, shape, motion, np.random.default_rng([self.seed, index, 1]))
        else:
            caption = caption_for(color, shape, motion, template)
        phase = 0.0
        if self.phase_probability:  # its own draws, so the other draws stay those of phase_probability 0
            draw, fraction = np.random.default_rng([self.seed, index, 2]).random(2)
            phase = float(fraction) if draw < self.phase_probability else 0.0
        return {
            "caption": caption,
            "color": color,
            "shape": shape,
            "motion": motion,
            "clip_seed": clip_seed,
            "phase": phase,
        }

    def __getitem__(self, index: int) -> dict:
        return self.load_at(index, self.num_frames, self.height, self.width)

    def load_at(self, index: int, num_frames: int, height: int, width: int) -> dict:
        """Item ``index`` rendered at another shape (a bucket's); same labels, same motion."""
        item = self.labels(index)
        clip_seed, phase = item.pop("clip_seed"), item.pop("phase")
        if self.phase_probability:  # what the DiT task couples its conditioning with; unphased items stay as they were
            item["phase"] = phase
        item["video"] = render_clip(
            item["color"], item["shape"], item["motion"], num_frames, height, width, clip_seed, self.travel_frames, phase
        )
        if self.audio_sample_rate:
            item["audio"] = render_audio(
                item["color"], item["shape"], item["motion"], num_frames, self.fps, self.audio_sample_rate, clip_seed
            )
        return item
