"""The LM's unified vocabulary, its sequence layout, and the conditioning of each task.

One embedding table holds every discrete token::

    [0, num_special_tokens)                      special and task tokens
    [num_special_tokens, + codebook_size)        video token ids (tokenizer ids shifted)
    [..., + num_audio_codebooks * audio_codebook_size)   audio codes, one block per codebook

A training or sampling sequence is laid out as (VideoPoet's layout)::

    <bos> <task> [text x text_length] <boi> [conditioning video] <boa> [conditioning audio] <bov|boa_out> | [target] <eos>

Everything up to and including ``<bov>`` is the *prefix* (bidirectional attention); the target
tokens and ``<eos>`` are predicted causally. Text enters as encoder hidden states: its positions
hold the ``<text>`` placeholder id, and the model replaces their embeddings by projected hidden
states. Every row of a batch has the same layout (same task, same text length, same grid), so
positions are shared by the batch and only masks differ.

Inpainting and outpainting follow VideoPoet: the conditioning is the whole token grid with the
region to generate replaced by ``<mask>``, and the target is the whole grid, so the given tokens are
copied (and at sampling they are forced).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

# Special ids. Order is part of saved checkpoints: append, never reorder.
PAD = 0
BOS = 1
EOS = 2
BOI = 3  # begin conditioning video / image
BOA = 4  # begin conditioning audio
BOV = 5  # begin target video
BOA_OUT = 6  # begin target audio
MASK = 7  # a conditioning video token hidden by an inpainting/outpainting mask
TEXT = 8  # placeholder at text positions (its embedding is replaced by projected text)

TASKS = ("t2v", "i2v", "continue", "inpaint", "outpaint", "uncond", "v2a", "a2v")
TASK_OFFSET = 16
TASK_IDS = {name: TASK_OFFSET + index for index, name in enumerate(TASKS)}
MIN_SPECIAL_TOKENS = TASK_OFFSET + len(TASKS)

#: tasks whose target is video tokens (the ones trained on the video-only datasets)
VIDEO_TASKS = ("t2v", "i2v", "continue", "inpaint", "outpaint", "uncond")
#: tasks that pair the video with its soundtrack's codec codes (need an audio codec and data with sound)
AUDIO_TASKS = ("v2a", "a2v")


@dataclass(frozen=True)
class Vocabulary:
    """Where each kind of id lives in the one embedding table."""

    codebook_size: int
    num_special_tokens: int = 32
    num_audio_codebooks: int = 0
    audio_codebook_size: int = 0

    def __post_init__(self):
        if self.num_special_tokens < MIN_SPECIAL_TOKENS:
            raise ValueError(f"num_special_tokens must be >= {MIN_SPECIAL_TOKENS}, got {self.num_special_tokens}")
        if self.codebook_size < 1:
            raise ValueError(f"codebook_size must be positive, got {self.codebook_size}")

    @property
    def video_start(self) -> int:
        return self.num_special_tokens

    @property
    def video_end(self) -> int:
        return self.num_special_tokens + self.codebook_size

    @property
    def audio_start(self) -> int:
        return self.video_end

    @property
    def size(self) -> int:
        return self.video_end + self.num_audio_codebooks * self.audio_codebook_size

    def video_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        return codes.long() + self.video_start

    def ids_to_video(self, ids: torch.Tensor) -> torch.Tensor:
        codes = ids - self.video_start
        if ((codes < 0) | (codes >= self.codebook_size)).any():
            raise ValueError("ids outside the video range cannot be turned back into video tokens")
        return codes

    def audio_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes (batch, num_audio_codebooks, frames)`` -> ids ``(batch, frames * num_audio_codebooks)``,
        interleaved frame by frame so that a prefix of the sequence is a prefix of the audio."""
        if self.num_audio_codebooks == 0:
            raise ValueError("this vocabulary has no audio codebooks (num_audio_codebooks=0)")
        levels = torch.arange(codes.shape[1], device=codes.device)[None, :, None]
        ids = codes.long() + self.audio_start + levels * self.audio_codebook_size
        return rearrange(ids, "b q f -> b (f q)")

    def ids_to_audio(self, ids: torch.Tensor) -> torch.Tensor:
        ids = rearrange(ids, "b (f q) -> b q f", q=self.num_audio_codebooks)
        levels = torch.arange(self.num_audio_codebooks, device=ids.device)[None, :, None]
        return ids - self.audio_start - levels * self.audio_codebook_size

    def audio_level_range(self, level: int) -> tuple[int, int]:
        """Ids of audio codebook ``level``: at position ``i`` of an audio target only level
        ``i % num_audio_codebooks`` is valid (codes are interleaved frame by frame)."""
        if not 0 <= level < self.num_audio_codebooks:
            raise ValueError(f"audio level {level} outside [0, {self.num_audio_codebooks})")
        start = self.audio_start + level * self.audio_codebook_size
        return start, start + self.audio_codebook_size

    def allowed_range(self, target: str) -> tuple[int, int]:
        """Ids a sampler may emit for a "video" or "audio" target."""
        if target == "video":
            return self.video_start, self.video_end
        return self.audio_start, self.size


@dataclass
class Sequence:
    """A batch laid out for the LM; every row shares the layout."""

    input_ids: torch.Tensor  # (batch, length): the whole sequence, targets and <eos> included
    prefix_length: int  # positions [0, prefix_length) are the bidirectional prefix, ending with <bov>
    text_start: int
    text_length: int
    target_length: int  # target tokens, <eos> not counted
    forced: torch.Tensor | None = None  # (batch, target_length) ids to copy at sampling, -1 where free

    @property
    def prefix_ids(self) -> torch.Tensor:
        return self.input_ids[:, : self.prefix_length]

    @property
    def target_ids(self) -> torch.Tensor:
        """Target tokens and <eos>, as predicted by the logits at ``prefix_length - 1`` onwards."""
        return self.input_ids[:, self.prefix_length :]


def build_sequence(
    task: str,
    batch_size: int,
    text_length: int,
    condition_ids: torch.Tensor | None = None,
    target_ids: torch.Tensor | None = None,
    target_length: int | None = None,
    condition_audio_ids: torch.Tensor | None = None,
    target_kind: str = "video",
    forced: torch.Tensor | None = None,
    device=None,
) -> Sequence:
    """Lay out one batch. ``condition_ids``/``target_ids`` are already vocabulary ids,
    ``(batch, n)``. Without ``target_ids`` (sampling) the sequence stops at the prefix and
    ``target_length`` says how many tokens will be generated."""
    if task not in TASK_IDS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")

    def column(token: int) -> torch.Tensor:
        return torch.full((batch_size, 1), token, dtype=torch.long, device=device)

    empty = torch.zeros(batch_size, 0, dtype=torch.long, device=device)
    parts = [
        column(BOS),
        column(TASK_IDS[task]),
        torch.full((batch_size, text_length), TEXT, dtype=torch.long, device=device),
        column(BOI),
        empty if condition_ids is None else condition_ids.to(device),
        column(BOA),
        empty if condition_audio_ids is None else condition_audio_ids.to(device),
        column(BOV if target_kind == "video" else BOA_OUT),
    ]
    prefix_length = sum(part.shape[1] for part in parts)
    if target_ids is not None:
        target_length = target_ids.shape[1]
        parts += [target_ids.to(device), column(EOS)]
    if target_length is None:
        raise ValueError("build_sequence needs target_ids or target_length")
    return Sequence(
        input_ids=torch.cat(parts, dim=1),
        prefix_length=prefix_length,
        text_start=2,
        text_length=text_length,
        target_length=target_length,
        forced=forced,
    )


# ----------------------------------------------------------------------------------------------
# Task conditioning from a grid of video ids (batch, t, h, w), already shifted into the vocabulary.


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
        if temporal:
            length = draw(1, frames - 1)
            start = draw(0, frames - length)
            region = torch.zeros(frames, height, width, dtype=torch.bool)
            region[start : start + length] = True
        else:
            box_height, box_width = draw(1, max(1, height - 1)), draw(1, max(1, width - 1))
            top, left = draw(0, height - box_height), draw(0, width - box_width)
            region = torch.zeros(frames, height, width, dtype=torch.bool)
            region[:, top : top + box_height, left : left + box_width] = True
        masks[row] = region if kind == "inpaint" else ~region
        if not masks[row].any():  # an outpaint box covering everything leaves nothing to learn
            masks[row, -1, -1, -1] = True
    return masks.to(device)


@dataclass
class TaskExample:
    """The video parts of one task's sequence: conditioning ids, target ids, forced ids."""

    condition_ids: torch.Tensor | None
    target_ids: torch.Tensor
    forced: torch.Tensor | None = None
    condition_audio_ids: torch.Tensor | None = None
    target_kind: str = "video"


def task_example(
    task: str,
    grid: torch.Tensor,
    generator: torch.Generator | None = None,
    num_given_frames: int | None = None,
    region: torch.Tensor | None = None,
    audio_ids: torch.Tensor | None = None,
) -> TaskExample:
    """Split a grid of vocabulary ids ``(batch, t, h, w)`` into conditioning and target for ``task``.

    t2v / uncond: no video conditioning, target = every token.
    i2v: the first latent frame is given, target = the remaining frames.
    continue: the first ``num_given_frames`` latent frames (random in [1, t-1] when None) are given.
    inpaint / outpaint: conditioning = grid with ``region`` (random when None) masked, target = grid.
    v2a: conditioning = every video token, target = ``audio_ids`` (batch, frames * codebooks).
    a2v: conditioning audio = ``audio_ids``, target = every video token.
    """
    frames = grid.shape[1]
    if task in ("t2v", "uncond"):
        return TaskExample(None, flatten_grid(grid))
    if task in ("i2v", "continue"):
        if frames < 2:
            raise ValueError(f"task {task!r} needs at least 2 latent frames, got {frames}")
        if task == "i2v":
            given = 1
        elif num_given_frames is None:
            given = _draw(1, frames - 1, generator)
        else:
            given = num_given_frames
        return TaskExample(flatten_grid(grid[:, :given]), flatten_grid(grid[:, given:]))
    if task in ("inpaint", "outpaint"):
        if region is None:
            region = random_region_mask(tuple(grid.shape), task, generator, grid.device)
        condition = flatten_grid(masked_condition(grid, region))
        target = flatten_grid(grid)
        forced = torch.where(flatten_grid(region), torch.full_like(target, -1), target)
        return TaskExample(condition, target, forced)
    if task in AUDIO_TASKS:
        if audio_ids is None:
            raise ValueError(f"task {task!r} needs audio_ids (the soundtrack's codec codes as vocabulary ids)")
        if task == "v2a":
            return TaskExample(flatten_grid(grid), audio_ids, target_kind="audio")
        return TaskExample(None, flatten_grid(grid), condition_audio_ids=audio_ids)
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
