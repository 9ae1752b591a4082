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

What each task puts in the conditioning and the target is the task table,
:mod:`genvid.models.ar_tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
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

#: task tokens start here; each task of genvid.models.ar_tasks owns ``TASK_OFFSET + task.token``
TASK_OFFSET = 16
#: room for the eight built-in task tokens
MIN_SPECIAL_TOKENS = TASK_OFFSET + 8


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
    task,
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
    ``target_length`` says how many tokens will be generated. ``task``: a name of
    :data:`genvid.models.ar_tasks.TASKS` or one of its objects."""
    if isinstance(task, str):
        from genvid.models.ar_tasks import get_task  # the table builds on this module

        task = get_task(task)

    def column(token: int) -> torch.Tensor:
        return torch.full((batch_size, 1), token, dtype=torch.long, device=device)

    empty = torch.zeros(batch_size, 0, dtype=torch.long, device=device)
    parts = [
        column(BOS),
        column(task.token_id),
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


def pad_text(hidden: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (or cut) text to ``length`` positions, so that every batch has the same layout."""
    hidden, mask = hidden[:, :length], mask[:, :length].bool()
    extra = length - hidden.shape[1]
    return F.pad(hidden, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)
