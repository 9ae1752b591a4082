"""How often the far-prompt line of ``genvid generate`` fires (genvid.known_prompts), measured.

Four prompt sets against a pipeline folder's stored captions: the canonical captions of all 96
combinations in every basic template and fresh draws of the rich training grammar
(genvid.data.captions; the line should fire on neither), the held-out wording set of
genvid.eval.wordings (words no training caption uses; reported, not a goal), and prompts about other
things than a shape on a background (it should always fire).

    python -m genvid.eval.far_prompts [FOLDER ...] [--rebuild]   # default: both shipped demos

``--rebuild`` first writes each folder's ``known_captions.safetensors`` from :func:`demo_captions`.
"""

from __future__ import annotations

import argparse
import json

import torch

#: Prompts about other things than the synthetic set's one shape on a plain background.
FAR_PROMPTS = (
    "a dog surfing at sunset",
    "an astronaut riding a horse on the moon",
    "a robot dancing in the rain",
    "a crowded city street at night",
    "waves crashing on a rocky beach",
    "a chef chopping onions in a kitchen",
    "two cats playing with a ball of yarn",
    "a time-lapse of clouds over mountains",
    "a car driving through a snowy forest",
    "fireworks over a river",
    "a close-up of a person laughing",
    "a hot air balloon drifting over fields",
)


def demo_captions() -> list[str]:
    """Every caption the shipped demos were trained on: the basic grammar's captions of the train
    combinations (their first stages) and the rich grammar's captions of the round-2 fine-tunes'
    clips (configs/{lm,dit}/demo_tasks.yaml: 6000 clips, data.seed 2). Never the held-out wordings."""
    from genvid.known_prompts import synthetic_training_captions

    return sorted(set(synthetic_training_captions("basic")) | set(synthetic_training_captions("rich", 6000, 2)))


def prompt_sets() -> dict[str, list[str]]:
    import numpy as np

    from genvid.data.captions import rich_caption
    from genvid.data.synthetic import ALL_COMBINATIONS, NUM_TEMPLATES, caption_for
    from genvid.eval.wordings import TEMPLATES, heldout_wording

    rng = np.random.default_rng(7)  # fresh draws of the training grammar, not the stored ones
    return {
        "canonical": [caption_for(*combination, template=template) for combination in ALL_COMBINATIONS
                      for template in range(NUM_TEMPLATES)],
        "rich": [rich_caption(*combination, rng) for combination in ALL_COMBINATIONS for _ in range(2)],
        "heldout_wording": [heldout_wording(*combination, index=index) for combination in ALL_COMBINATIONS
                            for index in range(len(TEMPLATES))],
        "far": list(FAR_PROMPTS),
    }


def measure(known, text_encoder) -> dict[str, dict]:
    """Per prompt set: the nearest-caption cosine (min / mean / max) and the share the line fires on."""
    from genvid.known_prompts import sentence_embeddings

    report = {}
    for name, prompts in prompt_sets().items():
        similarity = (sentence_embeddings(text_encoder, prompts) @ known.embeddings.T).max(dim=1).values
        report[name] = {"prompts": len(prompts), "min": round(float(similarity.min()), 3),
                        "mean": round(float(similarity.mean()), 3), "max": round(float(similarity.max()), 3),
                        "fires": round(float((similarity < known.threshold).float().mean()), 4)}
    return report


def main(argv=None) -> int:
    from genvid.known_prompts import DEFAULT_THRESHOLD, KnownCaptions, synthetic_vocabulary, write_known_captions
    from genvid.text import TextEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="pipeline folders (default: the two shipped demos)")
    parser.add_argument("--rebuild", action="store_true", help="write known_captions.safetensors from demo_captions() first")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="the similarity stored with --rebuild")
    args = parser.parse_args(argv)
    if not args.folders:
        from genvid.demo import demo_path

        args.folders = [str(demo_path(name)) for name in ("ar", "diffusion")]
    torch.set_grad_enabled(False)
    captions = demo_captions() if args.rebuild else None
    reports = {}
    for folder in args.folders:
        encoder = TextEncoder.from_pretrained(f"{folder}/text_encoder")
        if captions is not None:
            write_known_captions(folder, encoder, captions, synthetic_vocabulary(), args.threshold)
        known = KnownCaptions.from_folder(folder)
        reports[folder] = {"captions": known.embeddings.shape[0], **measure(known, encoder)}
    print(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
