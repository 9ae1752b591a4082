"""CLIPSIM: how well clips match their prompts, scored by a local transformers CLIP folder.

For each clip, every frame and the prompt are embedded by CLIP; the score is the cosine between
the frame's and the prompt's embeddings, averaged over the frames, then over the clips. That is the
CLIPSIM VideoPoet reports (0.3123 zero-shot on MSR-VTT, with a ViT-B/32-class CLIP; the figure
depends on the CLIP network, so compare runs scored by the same folder). Some papers multiply by
100 or clip negatives at 0 (CLIPScore); this one does neither.

Frames are prepared as CLIP's own image processor does: the shorter side resized (bicubic) to the
vision tower's ``image_size``, a centre crop, the folder's ``image_mean`` / ``image_std``
(``preprocessor_config.json``; OpenAI CLIP's values without one). Prompts go through the folder's
tokenizer, cut at the text tower's ``max_position_embeddings``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from tqdm.auto import tqdm

from genvid.errors import GenvidError
from genvid.eval.local_models import check_rgb_clip, local_config

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipScorer:
    """A CLIP model and tokenizer from a save_pretrained folder (offline), scoring clips against text."""

    def __init__(self, model, tokenizer, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.size = model.config.vision_config.image_size
        self.max_length = model.config.text_config.max_position_embeddings
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    @classmethod
    def from_folder(cls, path: str | Path, device="cpu", dtype=torch.float32) -> "ClipScorer":
        from transformers import AutoTokenizer, CLIPConfig, CLIPModel

        folder, _ = local_config(path, CLIPConfig, "CLIP model")
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as error:
            raise GenvidError(f"no tokenizer in the CLIP folder {folder} ({str(error).splitlines()[0]})") from None
        model = CLIPModel.from_pretrained(folder, local_files_only=True, dtype=dtype).to(device)
        mean, std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        processor_config = folder / "preprocessor_config.json"
        if processor_config.is_file():
            values = json.loads(processor_config.read_text())
            mean, std = values.get("image_mean", mean), values.get("image_std", std)
        return cls(model, tokenizer, mean, std)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prepare_frames(self, video: torch.Tensor) -> torch.Tensor:
        """``(C, T, H, W)`` in [-1, 1] -> ``(T, C, size, size)`` normalised CLIP input."""
        check_rgb_clip(video)
        frames = rearrange((video.float() + 1) / 2, "c t h w -> t c h w")
        height, width = frames.shape[-2:]
        scale = self.size / min(height, width)
        resized = (max(self.size, round(height * scale)), max(self.size, round(width * scale)))
        frames = F.interpolate(frames, size=resized, mode="bicubic", align_corners=False).clamp(0, 1)
        top, left = (resized[0] - self.size) // 2, (resized[1] - self.size) // 2
        frames = frames[..., top : top + self.size, left : left + self.size]
        return (frames - self.mean) / self.std

    @torch.no_grad()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tokens = {key: value.to(self.device) for key, value in tokens.items() if key in ("input_ids", "attention_mask")}
        return F.normalize(_embedding(self.model.get_text_features(**tokens)).float(), dim=-1)

    @torch.no_grad()
    def frame_embeddings(self, video: torch.Tensor) -> torch.Tensor:
        pixels = self.prepare_frames(video).to(self.device, next(self.model.parameters()).dtype)
        return F.normalize(_embedding(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1)

    def clip_scores(self, videos: Sequence[torch.Tensor], prompts: Sequence[str]) -> list[float]:
        """Per clip: the mean over its frames of cos(frame, its prompt)."""
        if len(videos) != len(prompts):
            raise GenvidError(f"{len(videos)} clips but {len(prompts)} prompts: give one prompt per clip")
        scores = []
        for video, prompt in tqdm(list(zip(videos, prompts)), desc="clipsim", unit="clip", leave=False):
            text = self.text_embeddings([prompt])[0]
            scores.append(float((self.frame_embeddings(video) @ text).mean()))
        return scores


def _embedding(output) -> torch.Tensor:
    """transformers 5 may return an output object where 4 returned the projected tensor."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


def clipsim(scorer: ClipScorer, videos: Sequence[torch.Tensor], prompts: Sequence[str]) -> float:
    """Mean per-frame CLIP image-text cosine over all clips (VideoPoet's CLIPSIM)."""
    scores = scorer.clip_scores(videos, prompts)
    return sum(scores) / len(scores)
