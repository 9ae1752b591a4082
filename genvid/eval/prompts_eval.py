"""Does a pipeline draw what its prompt asks for? (the measuring part of ``genvid eval prompts``)

Generates one clip (or more) for every colour x shape x motion of the synthetic vocabulary,
reads each back with genvid.eval.analyzer, and reports per-attribute accuracy separately for the
combinations seen in training and the held-out ones.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from genvid.data.synthetic import ALL_COMBINATIONS, HELDOUT_COMBINATIONS, NEW_COLOR_WORDS, SPLITS, caption_for
from genvid.errors import GenvidError
from genvid.eval.analyzer import evaluate_prompt_following
from genvid.pipelines.common import frames_to_video


def generate_for_combinations(
    pipeline,
    combinations,
    samples_per_combination: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    wording: str = "canonical",
    **call_options,
) -> list[torch.Tensor]:
    """One (C, T, H, W) clip in [-1, 1] per (combination, sample), in order.

    ``wording``: "canonical" (the training grammar's captions) or "heldout" (genvid.eval.wordings:
    synonyms and sentence forms no training caption uses)."""
    prompts = [prompt_for(combination, sample, wording) for combination in combinations
               for sample in range(samples_per_combination)]
    clips: list[torch.Tensor] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="eval prompts", leave=False):
        chunk = prompts[start : start + batch_size]
        generator = torch.Generator().manual_seed(seed + start)
        frames = pipeline(prompt=chunk, generator=generator, output_type="pt", **call_options).frames
        clips.extend(frames_to_video(frames))
    return clips


WORDINGS = ("canonical", "heldout", "dev")


def prompt_for(combination, sample: int, wording: str = "canonical") -> str:
    """The prompt of one evaluation clip of a combination in the given wording."""
    if wording == "canonical":
        return caption_for(*combination, template=sample)
    if wording in ("heldout", "dev"):
        if wording == "heldout":
            from genvid.eval.wordings import heldout_wording as wording_of
        else:
            from genvid.eval.dev_wordings import dev_wording as wording_of

        if tuple(combination) not in ALL_COMBINATIONS:
            raise GenvidError(f"the {wording} wording set covers the synthetic colours only, not {combination[0]!r}")
        # Offset per combination, so that one clip per combination still covers every synonym.
        return wording_of(*combination, index=sample + ALL_COMBINATIONS.index(tuple(combination)))
    raise ValueError(f"unknown wording {wording!r}; expected one of {', '.join(WORDINGS)}")


def split_name(split: str, wording: str) -> str:
    """The row name of a (split, wording): "seen", "heldout", "seen / heldout wording"."""
    return split if wording == "canonical" else f"{split} / {wording} wording"


def split_combinations(split: str):
    """The combinations of a split: "seen" (trained on), "heldout", "all", or another split of
    genvid.data.synthetic.SPLITS (``blicket``: the new colour word of configs/dit/demo_lora.yaml)."""
    if split == "seen":
        return [c for c in ALL_COMBINATIONS if c not in HELDOUT_COMBINATIONS]
    if split == "heldout":
        return list(HELDOUT_COMBINATIONS)
    if split == "all":
        return list(ALL_COMBINATIONS)
    if split in SPLITS:
        return list(SPLITS[split])
    raise ValueError(f"unknown split {split!r}; expected seen, heldout, all or one of {', '.join(SPLITS)}")


def generate_splits(pipeline, splits=("seen", "heldout"), samples_per_combination: int = 1, batch_size: int = 16,
                    seed: int = 0, wordings=("canonical",), **call_options) -> dict[str, tuple[list, list[torch.Tensor]]]:
    """``{split name: (labels, clips)}``: one ``(color, shape, motion)`` label per generated clip,
    for each split in each wording (see :func:`split_name`)."""
    generated = {}
    for wording in wordings:
        for split in splits:
            combinations = split_combinations(split)
            clips = generate_for_combinations(pipeline, combinations, samples_per_combination, batch_size, seed,
                                              wording, **call_options)
            # a new colour word is drawn (and read back) as the colour it names
            labels = [(NEW_COLOR_WORDS.get(color, color), shape, motion) for color, shape, motion in combinations
                      for _ in range(samples_per_combination)]
            generated[split_name(split, wording)] = (labels, clips)
    return generated


def evaluate_pipeline(pipeline, samples_per_combination: int = 1, batch_size: int = 16, seed: int = 0, **call_options):
    """Accuracy per attribute for seen and held-out combinations: {"seen": {...}, "heldout": {...}}."""
    generated = generate_splits(pipeline, ("seen", "heldout"), samples_per_combination, batch_size, seed, **call_options)
    return {split: evaluate_prompt_following(clips, labels) for split, (labels, clips) in generated.items()}


def format_table(reports: dict[str, dict]) -> str:
    """Markdown table: one row per (model, split)."""
    lines = ["| model | split | clips | color | shape | motion | all three |", "|---|---|---|---|---|---|---|"]
    for model, report in reports.items():
        for split, values in report.items():
            lines.append(
                f"| {model} | {split} | {values['num_clips']} | {values['color_accuracy']:.1%} | "
                f"{values['shape_accuracy']:.1%} | {values['motion_accuracy']:.1%} | {values['all_accuracy']:.1%} |"
            )
    return "\n".join(lines)


def learned_metrics(generated, scorer=None, feature_model=None) -> dict[str, dict[str, float]]:
    """``{split: {"clipsim": .., "fvd": ..}}`` for ``{split: (labels, clips)}``: CLIPSIM of the clips
    against their prompts where a :class:`~genvid.eval.clipsim.ClipScorer` is given, FVD against
    the synthetic set's renders of the same labels where a
    :class:`~genvid.eval.fvd.VideoFeatureModel` is given."""
    from genvid.data.synthetic import render_clip

    metrics = {split: {} for split in generated}
    for split, (labels, clips) in generated.items():
        if scorer is not None:
            from genvid.eval.clipsim import clipsim

            metrics[split]["clipsim"] = clipsim(scorer, clips, [caption_for(*label) for label in labels])
        if feature_model is not None:
            from genvid.eval.fvd import fvd

            frames, height, width = clips[0].shape[1:]
            renders = (render_clip(*label, num_frames=frames, height=height, width=width, seed=index)
                       for index, label in enumerate(labels))
            metrics[split]["fvd"] = fvd(feature_model, renders, clips)
    return metrics


def load_learned_models(clip_model: str | None = None, feature_model: str | None = None, device="cpu"):
    """``(ClipScorer or None, VideoFeatureModel or None)`` from local folders."""
    scorer = features = None
    if clip_model:
        from genvid.eval.clipsim import ClipScorer

        scorer = ClipScorer.from_folder(clip_model, device)
    if feature_model:
        from genvid.eval.fvd import VideoFeatureModel

        features = VideoFeatureModel.from_folder(feature_model, device)
    return scorer, features
