"""What a pipeline was trained to draw, and one line when a prompt is far from all of it.

A pipeline folder may hold ``known_captions.safetensors``: the sentence embeddings (the text
encoder's mask-mean hidden state, unit length) of every caption its generator was trained on, and
in its metadata what those captions can ask for (colours, shapes, motions) and the similarity below
which a prompt counts as far. ``genvid generate`` still draws a far prompt, then says in one line
what the demo can draw. The decision is the text encoder's: a prompt in new words for known things
("a scarlet disc rising") stays close to the captions, a prompt about other things ("a dog surfing
at sunset") does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genvid.folder_files import FolderFile

FILE_NAME = "known_captions.safetensors"


def sentence_embeddings(text_encoder, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """``(N, D)`` unit-length mean of each prompt's token states."""
    rows = []
    for start in range(0, len(prompts), batch_size):
        hidden_states, mask = text_encoder.encode(prompts[start : start + batch_size])
        weights = mask.unsqueeze(-1).float()
        mean = (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1)
        rows.append(torch.nn.functional.normalize(mean.cpu(), dim=-1))
    return torch.cat(rows)


def write_known_captions(folder, text_encoder, captions: list[str], vocabulary: dict[str, list[str]],
                         threshold: float) -> Path:
    """Store the summary in a pipeline folder. ``vocabulary``: what the captions can ask for
    (``{"colors": [...], "shapes": [...], "motions": [...]}``)."""
    unique = sorted(set(captions))
    return KnownCaptions(sentence_embeddings(text_encoder, unique), vocabulary, threshold).save(folder)


def synthetic_vocabulary() -> dict[str, list[str]]:
    from genvid.data.synthetic import COLORS, MOTIONS, SHAPES

    return {"colours": list(COLORS), "shapes": list(SHAPES), "motions": list(MOTIONS)}


def synthetic_training_captions(captions: str = "basic", num_samples: int = 4000, seed: int = 0) -> list[str]:
    """The captions a generator trained on the synthetic set's train split saw (basic: all of them)."""
    from genvid.data.synthetic import SyntheticVideoDataset

    dataset = SyntheticVideoDataset(split="train", num_samples=num_samples, seed=seed, captions=captions)
    return sorted({dataset.labels(index)["caption"] for index in range(len(dataset))})


#: Measured on the demo's MiniLM against the basic and rich training captions (genvid.eval.far_prompts,
#: README of genvid/demo): canonical captions and fresh rich-grammar captions of all 96 combinations
#: reach >= 0.88 to their nearest stored caption; twelve prompts about other things <= 0.56 (the rich
#: grammar's motion words pull "a hot air balloon drifting over fields" up from 0.33 to 0.56).
DEFAULT_THRESHOLD = 0.6


class KnownCaptions(FolderFile):
    """The loaded summary (:meth:`from_folder`; None where a folder has none): :meth:`similarity` of a
    prompt to its nearest training caption."""

    file_name = FILE_NAME

    def __init__(self, embeddings: torch.Tensor, vocabulary: dict[str, list[str]], threshold: float):
        self.embeddings = embeddings.float()
        self.vocabulary = vocabulary
        self.threshold = threshold

    @classmethod
    def from_stored(cls, folder, tensors, metadata) -> "KnownCaptions":
        return cls(tensors["embeddings"], json.loads(metadata["vocabulary"]), float(metadata["threshold"]))

    def stored(self):
        """fp16 embeddings, and the vocabulary and threshold as metadata."""
        return {"embeddings": self.embeddings.half()}, {
            "vocabulary": json.dumps(self.vocabulary), "threshold": repr(float(self.threshold)),
            "num_captions": str(self.embeddings.shape[0])}

    def similarity(self, text_encoder, prompt: str) -> float:
        """Cosine of the prompt's sentence embedding to its nearest training caption."""
        embedding = sentence_embeddings(text_encoder, [prompt])[0]
        return float((self.embeddings @ embedding).max())

    def far_prompt_line(self, text_encoder, prompt: str) -> str | None:
        """One line saying what the pipeline can draw, when ``prompt`` is far from its captions."""
        if not prompt.strip():
            return None
        similarity = self.similarity(text_encoder, prompt)
        if similarity >= self.threshold:
            return None
        parts = "; ".join(f"{name}: {', '.join(values)}" for name, values in self.vocabulary.items())
        return (f"note: this prompt is far from everything this model was trained on (similarity "
                f"{similarity:.2f} < {self.threshold:.2f}); it draws one shape on a dark background - {parts}")
