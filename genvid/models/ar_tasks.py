"""The table of the LM's tasks: one small object per task, read alike by sampling and training.

Each task says which pipeline inputs it takes, builds its conditioning, target and forced tokens
from those inputs (:meth:`ARTask.prepare`, when sampling) and from a training clip
(:meth:`ARTask.example`), and reports the longest sequence it lays out (:meth:`ARTask.longest`).
:class:`genvid.pipelines.ar.GenVidARPipeline`, the LM training task
(:mod:`genvid.training.tasks.lm`: its default mixture and context check) and ``genvid generate
--task`` read :data:`TASKS`; nothing else lists tasks.

Adding a task is one object: subclass :class:`ARTask`, give it a ``name``, a ``token`` no other task
uses (the index of its task token: part of saved checkpoints, never reuse one) and what differs,
then ``register(MyTask())``. The sequence layout itself is :mod:`genvid.models.sequence`.

Sampling side: the pipeline hands a task a :class:`TaskInputs` (tensors on the CPU) and itself as
``context``, whose ``tokenize``, ``latent_shape``, ``mask_to_grid``, ``encode_soundtrack`` and
``transformer.vocabulary`` are all a task calls; so this module never imports a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from einops import rearrange

from genvid.errors import GenvidError
from genvid.models.sequence import MASK, TASK_OFFSET

#: the pipeline inputs a task may name in ``needs`` / ``takes``
INPUTS = ("image", "video", "mask", "audio", "keyframes")
#: frames of an output when none are asked for (the demo's training length: one window)
DEFAULT_FRAMES = 17


@dataclass
class TaskInputs:
    """What a pipeline call gives its task: the asked size, and the conditioning as CPU tensors."""

    num_frames: int | None  # None: the task's default (sized)
    height: int
    width: int
    image: torch.Tensor | None = None  # (batch, 3, 1, height, width) in [-1, 1]
    video: torch.Tensor | None = None  # (batch, 3, frames, height, width) in [-1, 1]
    mask: Any = None  # pixels to generate (True), as given: (H, W), (T, H, W) or (B, T, H, W)
    audio: torch.Tensor | None = None  # waveforms (batch, samples) at the audio codec's rate
    keyframes: list | None = None  # [(image, frame index), ...]: frames given at any positions

    def given(self, name: str) -> bool:
        return getattr(self, name) is not None


@dataclass
class TaskExample:
    """One task's sequence parts besides the text, as vocabulary ids ``(batch, n)``.

    From a training clip ``target_ids`` is set; when sampling it is None and ``target_length`` says
    how many tokens to generate, ``given_ids`` are video ids the output clip starts with (i2v,
    continue) and ``output`` is what the pipeline returns besides the sampled tokens."""

    condition_ids: torch.Tensor | None
    target_ids: torch.Tensor | None = None
    forced: torch.Tensor | None = None  # (batch, target_length): ids to copy at sampling, -1 where free
    condition_audio_ids: torch.Tensor | None = None
    target_kind: str = "video"  # "video" | "audio"
    target_length: int | None = None
    given_ids: torch.Tensor | None = None
    output: TaskOutput | None = None
    region: torch.Tensor | None = None  # (batch, t, h, w): where the sampled tokens go (inpaint, outpaint)

    def __post_init__(self):
        if self.target_length is None and self.target_ids is not None:
            self.target_length = self.target_ids.shape[1]


@dataclass
class TaskOutput:
    """What a sampled sequence becomes; the pipeline decodes it for the asked ``output_type``."""

    video_ids: torch.Tensor | None = None  # tokenizer ids (batch, t, h, w) ("latent" output; decoded otherwise)
    video: torch.Tensor | None = None  # pixels to return as they are (v2a: the given clip)
    audio_codes: torch.Tensor | None = None  # codec codes (batch, levels, frames) ("latent"; decoded otherwise)
    audio: torch.Tensor | None = None  # a waveform to return as it is (a2v: the conditioning sound)


# ----------------------------------------------------------------------------------------------
# Conditioning helpers on a grid of video ids (batch, t, h, w), already shifted into the vocabulary.


def flatten_grid(ids: torch.Tensor) -> torch.Tensor:
    return rearrange(ids, "b t h w -> b (t h w)")


def masked_condition(ids: torch.Tensor, generate: torch.Tensor) -> torch.Tensor:
    """The grid with the positions to generate (``generate`` True) replaced by ``<mask>``."""
    return torch.where(generate, torch.full_like(ids, MASK), ids)


def _draw(low: int, high: int, generator: torch.Generator | None) -> int:
    """An int in [low, high] from ``generator`` (on whatever device it lives)."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(low, high + 1, (1,), generator=generator, device=device).item())


def random_region_mask(
    shape: tuple[int, int, int, int], kind: str, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """A boolean grid ``(batch, t, h, w)``, True where tokens are to be generated.

    ``inpaint``: a box inside the frame (spatial) or a span of latent frames (temporal) is hidden.
    ``outpaint``: everything outside a box (spatial) or outside a span of frames (temporal) is hidden.
    Each row draws spatial or temporal with equal odds (temporal needs at least two latent frames).
    """
    batch, frames, height, width = shape
    masks = torch.zeros(shape, dtype=torch.bool)

    def draw(low: int, high: int) -> int:  # inclusive range
        return _draw(low, high, generator)

    for row in range(batch):
        temporal = frames > 1 and draw(0, 1) == 1
        region = torch.zeros(frames, height, width, dtype=torch.bool)
        if temporal:
            length = draw(1, frames - 1)
            start = draw(0, frames - length)
            region[start : start + length] = True
        else:
            box_height, box_width = draw(1, max(1, height - 1)), draw(1, max(1, width - 1))
            top, left = draw(0, height - box_height), draw(0, width - box_width)
            region[:, top : top + box_height, left : left + box_width] = True
        masks[row] = region if kind == "inpaint" else ~region
        if not masks[row].any():  # an outpaint box covering everything leaves nothing to learn
            masks[row, -1, -1, -1] = True
    return masks.to(device)


def repeat_rows(tensor: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    """``tensor`` with ``batch`` rows: as given, or its one row repeated."""
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] != 1:
        raise GenvidError(f"got {tensor.shape[0]} {what}s for {batch} videos; give 1 or {batch}")
    return tensor.expand(batch, *tensor.shape[1:])


# ----------------------------------------------------------------------------------------------


class ARTask:
    """One task of the LM. The defaults are text-to-video: no conditioning, every token a target."""

    #: the name users and configs give (``task="t2v"``, ``task_weights: {t2v: 0.4}``)
    name: str = ""
    #: index of the task token: its id is ``TASK_OFFSET + token``. Saved checkpoints depend on it
    token: int = -1
    #: pipeline inputs that must be given ("image", "video", "mask", "audio")
    needs: tuple[str, ...] = ()
    #: further inputs it accepts without needing them
    takes: tuple[str, ...] = ()
    #: "video" or "audio": what the sampled tokens are
    target_kind: str = "video"
    #: False: the text is always dropped (its positions masked), so guidance has nothing to guide by
    uses_text: bool = True
    #: conditions on or produces a soundtrack (needs an audio codec and clips with sound)
    uses_audio: bool = False
    #: latent frames a training clip needs; shorter clips (images) train as t2v instead
    min_latent_frames: int = 1
    #: share of the LM's default training mixture
    default_weight: float = 0.0
    #: order in which the pipeline tries tasks when none is named (lower first); None: never inferred
    inference_rank: int | None = None
    #: another task whose token this one uses: a request that task was trained on, laid out another way
    request_of: str | None = None

    def __repr__(self) -> str:
        return f"<ARTask {self.name}>"

    @property
    def token_id(self) -> int:
        return TASK_OFFSET + self.token

    # ------------------------------------------------------------------ sampling
    def inferred_from(self, inputs: TaskInputs, has_text: bool) -> bool:
        """Whether a call with these inputs (and no ``task=``) means this task."""
        return all(inputs.given(name) for name in self.needs)

    def check(self, inputs: TaskInputs) -> None:
        """One clear error when the inputs do not fit this task."""
        missing = [name for name in self.needs if not inputs.given(name)]
        if missing:
            raise GenvidError(f"task {self.name!r} needs {' and '.join(self.needs)}")
        extra = [name for name in INPUTS if inputs.given(name) and name not in self.needs + self.takes]
        if extra:
            owners = [task.name for task in TASKS.values() if extra[0] in task.needs + task.takes]
            raise GenvidError(f"{extra[0]} is an input of task {' / '.join(owners)}, not of {self.name!r}")

    def sized(self, inputs: TaskInputs) -> TaskInputs:
        """The inputs with the output size the task makes (most: the asked one, else 17 frames)."""
        return inputs if inputs.num_frames is not None else replace(inputs, num_frames=DEFAULT_FRAMES)

    def input_rows(self, inputs: TaskInputs) -> int:
        """How many samples the conditioning inputs hold (one prompt is repeated over them)."""
        for name in ("video", "image", "audio"):
            if inputs.given(name):
                return getattr(inputs, name).shape[0]
        return 1

    def prepare(self, context, inputs: TaskInputs, batch: int, device) -> TaskExample:
        """Conditioning and target length for sampling ``batch`` outputs."""
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        return TaskExample(None, target_length=frames * rows * columns, output=TaskOutput())

    def allowed(self, vocabulary):
        """Ids the sampler may emit: a fixed ``(low, high)`` or a function of the token index."""
        return vocabulary.allowed_range("video")

    def finish(self, context, inputs: TaskInputs, example: TaskExample, tokens: torch.Tensor) -> TaskOutput:
        """The sampled ids ``(batch, target_length)`` -> what the pipeline decodes and returns."""
        if example.given_ids is not None:
            tokens = torch.cat([example.given_ids, tokens], dim=1)
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        grid = rearrange(tokens, "b (t h w) -> b t h w", t=frames, h=rows, w=columns)
        return replace(example.output, video_ids=context.transformer.vocabulary.ids_to_video(grid))

    # ------------------------------------------------------------------ training
    def example(self, grid: torch.Tensor, generator: torch.Generator | None = None, audio_ids=None) -> TaskExample:
        """Conditioning and target from a training clip's ids ``grid (batch, t, h, w)``; ``audio_ids``:
        its soundtrack's codes as vocabulary ids (tasks with ``uses_audio``)."""
        return TaskExample(None, flatten_grid(grid))

    def longest(self, video_tokens: int, frame_tokens: int, audio_tokens: int) -> int:
        """Conditioning plus target tokens of one clip (``video_tokens`` in all, ``frame_tokens`` per
        latent frame, ``audio_tokens`` for its soundtrack)."""
        return video_tokens


class TextToVideo(ARTask):
    name, token, default_weight, inference_rank = "t2v", 0, 0.4, 6


class ImageToVideo(ARTask):
    """The first latent frame is given (an image, or a clip's first frame); the rest is generated."""

    name, token, default_weight, inference_rank = "i2v", 1, 0.15, 4
    takes = ("image", "video")
    min_latent_frames = 2

    def inferred_from(self, inputs, has_text):
        return inputs.given("image")

    def check(self, inputs):
        if not (inputs.given("image") or inputs.given("video")):
            raise GenvidError("task 'i2v' needs image")
        super().check(inputs)

    def prepare(self, context, inputs, batch, device):
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        if frames < 2:
            raise GenvidError("image-to-video needs num_frames > 1 (at least 1 + 4 frames)")
        pixels = inputs.image if inputs.image is not None else inputs.video[:, :, :1]
        given = flatten_grid(context.tokenize(repeat_rows(pixels, batch, "image"), device))
        return TaskExample(given, target_length=(frames - 1) * rows * columns, given_ids=given, output=TaskOutput())

    def example(self, grid, generator=None, audio_ids=None):
        return TaskExample(flatten_grid(grid[:, :1]), flatten_grid(grid[:, 1:]))


class Continuation(ARTask):
    """The first latent frames of a clip are given; the clip goes on to ``num_frames``."""

    name, token, default_weight, inference_rank = "continue", 2, 0.15, 3
    needs = ("video",)
    min_latent_frames = 2

    def sized(self, inputs):
        """Without ``num_frames``: the given clip and one window more (a 17-frame clip -> 33)."""
        if inputs.num_frames is not None:
            return inputs
        return replace(inputs, num_frames=inputs.video.shape[2] + DEFAULT_FRAMES - 1)

    def prepare(self, context, inputs, batch, device):
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        clip = repeat_rows(inputs.video, batch, "video")
        given_frames = context.latent_shape(*clip.shape[2:])[0]
        if clip.shape[3:] != (inputs.height, inputs.width):
            raise GenvidError(
                f"video frames are {tuple(clip.shape[3:])}, expected ({inputs.height}, {inputs.width}) (height, width)"
            )
        if given_frames >= frames:
            raise GenvidError(
                f"video has {clip.shape[2]} frames; continuation needs fewer than num_frames={inputs.num_frames} (it "
                f"makes num_frames in all, the given ones first): ask for more frames or give a shorter video"
            )
        given = flatten_grid(context.tokenize(clip, device))
        target_length = (frames - given_frames) * rows * columns
        return TaskExample(given, target_length=target_length, given_ids=given, output=TaskOutput())

    def example(self, grid, generator=None, audio_ids=None, num_given_frames: int | None = None):
        """``num_given_frames`` latent frames are given (random in [1, t-1] when None)."""
        frames = grid.shape[1]
        if frames < 2:
            raise ValueError(f"task 'continue' needs at least 2 latent frames, got {frames}")
        given = _draw(1, frames - 1, generator) if num_given_frames is None else num_given_frames
        return TaskExample(flatten_grid(grid[:, :given]), flatten_grid(grid[:, given:]))


class Inpainting(ARTask):
    """VideoPoet's inpainting request: the conditioning is the whole grid with the region to
    generate hidden by ``<mask>``. The target is the region's tokens alone, in raster order (the
    ``<mask>`` positions of the conditioning say where each goes): the kept tokens appear once, so
    a clip edits within the context it is generated in (17x64x64 on the demo: 320 + at most 256
    tokens, not 2 x 320), and they come back exactly, copied from the input. Every row of a batch
    generates the same number of tokens (one layout per batch); training draws one region a batch."""

    name, token, default_weight, inference_rank = "inpaint", 3, 0.1, 2
    needs = ("video", "mask")

    def inferred_from(self, inputs, has_text):
        return inputs.given("mask")  # without video: the check says what is missing

    def sized(self, inputs):
        """Without ``num_frames``: the given clip's length."""
        return inputs if inputs.num_frames is not None else replace(inputs, num_frames=inputs.video.shape[2])

    def prepare(self, context, inputs, batch, device):
        clip = repeat_rows(inputs.video, batch, "video")
        size = (inputs.num_frames, inputs.height, inputs.width)
        if tuple(clip.shape[2:]) != size:
            raise GenvidError(
                f"video to {self.name} has shape {tuple(clip.shape[2:])} (frames, height, width), expected {size}"
            )
        grid = context.latent_shape(*size)
        region = context.mask_to_grid(inputs.mask, batch, *size, grid).to(device)
        counts = flatten_grid(region).sum(dim=1)
        if (counts != counts[0]).any():
            raise GenvidError(f"the masks of one call must cover as many tokens each; they cover {counts.tolist()}")
        if counts[0] == 0:
            raise GenvidError(f"the mask covers nothing to {self.name}; mark the pixels to generate True")
        ids = context.tokenize(clip, device)
        example = TaskExample(flatten_grid(masked_condition(ids, region)), target_length=int(counts[0]), output=TaskOutput())
        example.given_ids, example.region = ids, region
        return example

    def finish(self, context, inputs, example, tokens):
        grid = example.given_ids.clone()
        grid[example.region] = tokens.reshape(-1).to(grid.device)  # row by row, raster order
        return replace(example.output, video_ids=context.transformer.vocabulary.ids_to_video(grid))

    def example(self, grid, generator=None, audio_ids=None, region: torch.Tensor | None = None):
        """``region (t, h, w)`` or ``(1, t, h, w)``: True where tokens are generated, the same for
        every row (random when None, at most all but one latent frame's tokens: see :meth:`longest`)."""
        batch, frames = grid.shape[:2]
        if region is None:
            region = random_region_mask((1, *grid.shape[1:]), self.name, generator, grid.device)
            if frames > 1 and region.sum() > (frames - 1) * grid[0, 0].numel():
                region[:, 0] = False  # the first latent frame given whole: within the longest sequence
        region = region.reshape(1, *grid.shape[1:]).expand(batch, -1, -1, -1)
        target = grid[region].reshape(batch, -1)
        return TaskExample(flatten_grid(masked_condition(grid, region)), target)

    def longest(self, video_tokens, frame_tokens, audio_tokens):
        # the grid as conditioning plus the region: all but one latent frame (one frame: all but a token)
        return video_tokens + max(video_tokens - frame_tokens, frame_tokens - 1)


class Outpainting(Inpainting):
    """Inpainting's request with its own task token: ``mask`` True is the outside to generate."""

    name, token, default_weight, inference_rank = "outpaint", 4, 0.1, None


class Keyframes(Inpainting):
    """Frames given at any positions (first and last: interpolation between two images), as temporal
    inpainting under inpainting's task token: every latent frame that holds no keyframe is
    generated. The conditioning is the tokens of a guide clip in which each frame is its nearest
    keyframe (:func:`genvid.pipelines.conditioning.keyframe_guide`), so a keyframe's latent frame is
    that image as the causal tokenizer sees it in a clip; those latent frames come back exactly."""

    name, inference_rank, request_of = "keyframes", 0, "inpaint"
    token = Inpainting.token
    needs = ("keyframes",)
    min_latent_frames = 3

    def inferred_from(self, inputs, has_text):
        return inputs.given("keyframes")

    def sized(self, inputs):
        return ARTask.sized(self, inputs)

    def input_rows(self, inputs):
        # a (batch, 3, H, W) tensor keyframe gives one clip per row; images and paths give one
        return max(image.shape[0] if isinstance(image, torch.Tensor) and image.ndim == 4 else 1
                   for image, _ in inputs.keyframes)

    def prepare(self, context, inputs, batch, device):
        from genvid.pipelines.conditioning import keyframe_guide, latent_index, parse_keyframes

        keyframes = parse_keyframes(inputs.keyframes, inputs.num_frames)
        guide = repeat_rows(keyframe_guide(keyframes, inputs.num_frames, inputs.height, inputs.width), batch, "keyframe")
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        region = torch.ones(batch, frames, rows, columns, dtype=torch.bool, device=device)
        region[:, [latent_index(index) for _, index in keyframes]] = False
        if not region.any():
            raise GenvidError(f"the keyframes fill all {frames} latent frames of a {inputs.num_frames}-frame clip; nothing is left to generate")
        ids = context.tokenize(guide, device)
        example = TaskExample(flatten_grid(masked_condition(ids, region)), target_length=int(region[0].sum()), output=TaskOutput())
        example.given_ids, example.region = ids, region
        return example

    def example(self, grid, generator=None, audio_ids=None, region=None):
        """The middle latent frames, between a given first and last (the inpainting request it is)."""
        if region is None:
            region = torch.zeros(grid.shape[1:], dtype=torch.bool, device=grid.device)
            region[1:-1] = True
        return super().example(grid, generator, audio_ids, region=region)


class Unconditional(ARTask):
    """No text, no conditioning: the text positions stay, masked out of attention, as trained."""

    name, token, default_weight, inference_rank = "uncond", 5, 0.1, 5
    uses_text = False

    def inferred_from(self, inputs, has_text):
        return not has_text


class VideoToAudio(ARTask):
    """A clip's soundtrack: every video token in the prefix, the codec's codes as target."""

    name, token, target_kind, uses_audio = "v2a", 6, "audio", True
    needs = ("video",)

    def sized(self, inputs):
        num_frames, height, width = inputs.video.shape[2:]
        return replace(inputs, num_frames=num_frames, height=height, width=width)

    def prepare(self, context, inputs, batch, device):
        clip = repeat_rows(inputs.video, batch, "video")
        condition = flatten_grid(context.tokenize(clip, device))
        levels = context.transformer.vocabulary.num_audio_codebooks
        target_length = context.audio_codec.frames_for_video(inputs.num_frames) * levels
        return TaskExample(condition, target_kind="audio", target_length=target_length, output=TaskOutput(video=clip))

    def allowed(self, vocabulary):
        # codes are interleaved frame by frame: token i is a code of level i % levels
        return lambda index: vocabulary.audio_level_range(index % vocabulary.num_audio_codebooks)

    def finish(self, context, inputs, example, tokens):
        vocabulary = context.transformer.vocabulary
        frames, rows, columns = context.latent_shape(inputs.num_frames, inputs.height, inputs.width)
        clip_ids = rearrange(example.condition_ids, "b (t h w) -> b t h w", t=frames, h=rows, w=columns)
        return replace(example.output, video_ids=vocabulary.ids_to_video(clip_ids), audio_codes=vocabulary.ids_to_audio(tokens))

    def example(self, grid, generator=None, audio_ids=None):
        return TaskExample(flatten_grid(grid), audio_ids, target_kind="audio")

    def longest(self, video_tokens, frame_tokens, audio_tokens):
        return video_tokens + audio_tokens


class AudioToVideo(ARTask):
    """A clip for a soundtrack: the codec's codes in the prefix, every video token as target."""

    name, token, uses_audio, inference_rank = "a2v", 7, True, 1
    needs = ("audio",)

    def inferred_from(self, inputs, has_text):
        return inputs.given("audio") and not inputs.given("video") and not inputs.given("image")

    def prepare(self, context, inputs, batch, device):
        example = super().prepare(context, inputs, batch, device)
        waveform = repeat_rows(inputs.audio, batch, "soundtrack")
        example.condition_audio_ids, waveform = context.encode_soundtrack(waveform, inputs.num_frames, device)
        example.output = TaskOutput(audio=waveform.float().cpu())
        return example

    def example(self, grid, generator=None, audio_ids=None):
        return TaskExample(None, flatten_grid(grid), condition_audio_ids=audio_ids)

    def longest(self, video_tokens, frame_tokens, audio_tokens):
        return video_tokens + audio_tokens


#: every task by name, in the order of their tokens (the training mixture's order)
TASKS: dict[str, ARTask] = {}


def register(task: ARTask) -> ARTask:
    """Add ``task`` to the table; its name and token must be new."""
    if not task.name or task.name in TASKS:
        raise ValueError(f"an AR task needs a new name, got {task.name!r}")
    shared = [other for other in TASKS.values() if other.token == task.token]
    if task.token < 0 or any(task.request_of != other.name for other in shared):
        raise ValueError(f"AR task {task.name!r} needs a task token no other task uses, got {task.token}")
    TASKS[task.name] = task
    return task


def unregister(name: str) -> None:
    TASKS.pop(name)


def get_task(name: str) -> ARTask:
    if name not in TASKS:
        raise GenvidError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name]


def infer_task(inputs: TaskInputs, has_text: bool) -> ARTask:
    """The task a call without ``task=`` means: the first (by ``inference_rank``) whose inputs fit."""
    ranked = sorted((task for task in TASKS.values() if task.inference_rank is not None), key=lambda t: t.inference_rank)
    return next(task for task in ranked if task.inferred_from(inputs, has_text))


for _task_class in (TextToVideo, ImageToVideo, Continuation, Inpainting, Outpainting, Unconditional, VideoToAudio, AudioToVideo,
                    Keyframes):
    register(_task_class())
