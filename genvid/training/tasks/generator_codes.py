"""Codes a trained LM would write for a clip, for post-training a tokenizer's decoder on them.

A decoder trained only on the encoder's codes never sees the codes a generator writes, which are
near misses of them. Under teacher forcing (every position conditioned on the clip's true codes
before it and on the clip's own caption) the LM's sampled codes keep the clip's content, so the
clip is still the target: the decoder learns to draw what the generator meant. The idea is that
of post-training an image tokenizer on its generator's samples ("Image Tokenizer Needs
Post-Training", 2025); the code here is genvid's own.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genvid.errors import GenvidError


class TeacherForcedCodes:
    """The LM of a saved AR pipeline, turned into a sampler of near-miss codes."""

    def __init__(self, path: str, guidance_scale: float = 1.5, temperature: float = 1.0):
        if not (Path(path) / "model_index.json").is_file():
            raise GenvidError(f"task_options.generator_codes: no AR pipeline (model_index.json) at {path}")
        if temperature <= 0:
            raise GenvidError(f"task_options.generator_codes_temperature must be > 0, got {temperature}")
        from genvid.pipelines.ar import GenVidARPipeline

        pipeline = GenVidARPipeline.from_pretrained(path)
        self.pipeline = pipeline
        self.model = pipeline.transformer.eval().requires_grad_(False)
        self.guidance_scale = float(guidance_scale)
        self.temperature = float(temperature)

    def check(self, codebook_size: int) -> None:
        own = self.model.vocabulary.codebook_size
        if own != codebook_size:
            raise GenvidError(f"task_options.generator_codes: the LM writes {own} codes, the tokenizer has {codebook_size}")

    def to(self, device) -> "TeacherForcedCodes":
        self.model.to(device)
        self.pipeline.text_encoder.to(device)
        return self

    @torch.no_grad()
    def logits(self, codes: torch.Tensor, captions: list[str]) -> torch.Tensor:
        """Guided logits ``(B, t*h*w, codebook)`` over each position's code, given the clip's true codes
        before it and its caption (text-to-video layout, classifier-free guidance)."""
        from genvid.models.sampling import guidance_streams, guide
        from genvid.models.sequence import build_sequence

        model, device = self.model, codes.device
        vocabulary = model.vocabulary
        text, text_mask, _, _ = self.pipeline.encode_prompt(list(captions), do_classifier_free_guidance=False, device=device)
        targets = vocabulary.video_to_ids(codes).flatten(1)
        sequence = build_sequence("t2v", codes.shape[0], text.shape[1], None, targets, device=device)
        input_ids, text, text_mask, _ = guidance_streams(sequence.input_ids, text, text_mask, self.guidance_scale)
        # the logit at <bov> predicts the first code; the sequence's targets end with <eos>
        logits = model(input_ids, text.to(model.dtype), text_mask, sequence.prefix_length,
                       num_logits=sequence.target_ids.shape[1] + 1)
        logits = guide(logits[:, : targets.shape[1]].float(), self.guidance_scale)
        start, end = vocabulary.allowed_range("video")
        return logits[..., start:end]

    @torch.no_grad()
    def sample(self, codes: torch.Tensor, captions: list[str], generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes ``(B, t, h, w)`` of clips -> codes of the same shape, each position drawn from
        :meth:`logits` at the sampler's temperature."""
        from genvid.models.sampling import process_logits, sample_token

        logits = process_logits(self.logits(codes, captions).flatten(0, 1), self.temperature)
        return sample_token(logits, self.temperature, generator).view_as(codes)
