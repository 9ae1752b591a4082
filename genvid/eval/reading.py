"""How the prompt reading of the demos (genvid.pipelines.prompt_reading) reads each wording set, measured
on the text alone (no clip generated).

Per set: how many prompts are kept as they are (close to a training caption), and how often the
reading's colour / shape / motion is the prompt's own, over all of the set's prompts (kept or not:
this measures the rule). Sets: the canonical captions of all 96 combinations in every basic
template, fresh draws of the rich training grammar, the development wording set
(genvid.eval.dev_wordings, where every choice was made), the held-out wording set
(genvid.eval.wordings; run only for the final figures) and the far prompts (FAR_PROMPTS: what they are
read as is shown, not scored).

    python -m genvid.eval.reading [FOLDER] --wording dev [canonical rich heldout far]
    python -m genvid.eval.reading FOLDER --rebuild     # write FOLDER/caption_words.safetensors first
"""

from __future__ import annotations

import argparse
import json

import torch

WORDINGS = ("canonical", "rich", "dev", "heldout", "far")


def wording_prompts(wording: str, per_combination: int = 8) -> tuple[list[str], list[tuple | None]]:
    """``(prompts, labels)`` of a wording set; labels are ``(colour, shape, motion)`` (None for far prompts)."""
    import numpy as np

    from genvid.data.synthetic import ALL_COMBINATIONS, NUM_TEMPLATES, caption_for

    if wording == "far":
        from genvid.eval.far_prompts import FAR_PROMPTS

        return list(FAR_PROMPTS), [None] * len(FAR_PROMPTS)
    if wording == "canonical":
        pairs = [(caption_for(*combination, template=template), combination) for combination in ALL_COMBINATIONS
                 for template in range(NUM_TEMPLATES)]
    elif wording == "rich":
        from genvid.data.captions import rich_caption

        rng = np.random.default_rng(7)  # fresh draws, not the stored captions
        pairs = [(rich_caption(*combination, rng), combination) for combination in ALL_COMBINATIONS for _ in range(2)]
    elif wording in ("dev", "heldout"):
        if wording == "dev":
            from genvid.eval.dev_wordings import dev_wording as wording_of
        else:
            from genvid.eval.wordings import heldout_wording as wording_of
        pairs = [(wording_of(*combination, index=index), combination) for combination in ALL_COMBINATIONS
                 for index in range(per_combination)]
    else:
        raise ValueError(f"unknown wording {wording!r}; expected one of {', '.join(WORDINGS)}")
    return [prompt for prompt, _ in pairs], [combination for _, combination in pairs]


def measure(reader, text_encoder, wording: str) -> dict:
    prompts, labels = wording_prompts(wording)
    kept = reader.kept(text_encoder, prompts)
    readings = reader.attributes(text_encoder, prompts)
    report = {"prompts": len(prompts), "kept": round(sum(kept) / len(prompts), 4)}
    if labels[0] is None:
        report["read_as"] = {prompt: reader.caption(reading) for prompt, reading in zip(prompts, readings)}
        return report
    names = list(reader.vocabulary)
    right = torch.tensor([[reading[name] == value for name, value in zip(names, label)]
                          for reading, label in zip(readings, labels)], dtype=torch.float)
    for name, column in zip(names, right.T):
        report[name] = round(float(column.mean()), 4)
    report["all three"] = round(float(right.all(dim=1).float().mean()), 4)
    return report


def main(argv=None) -> int:
    from genvid.pipelines.prompt_reading import PromptReader, synthetic_word_examples, write_caption_words
    from genvid.text import TextEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=None, help="a pipeline folder (default: the shipped diffusion demo)")
    parser.add_argument("--wording", nargs="+", choices=WORDINGS, default=["dev"])
    parser.add_argument("--rebuild", action="store_true", help="write caption_words.safetensors from the basic captions first")
    args = parser.parse_args(argv)
    if args.folder is None:
        from genvid.demo import demo_path

        args.folder = str(demo_path("diffusion"))
    torch.set_grad_enabled(False)
    encoder = TextEncoder.from_pretrained(f"{args.folder}/text_encoder")
    if args.rebuild:
        write_caption_words(args.folder, encoder, synthetic_word_examples())
    reader = PromptReader.from_folder(args.folder)
    if reader is None:
        raise SystemExit(f"{args.folder} has no caption_words.safetensors (pass --rebuild to write it)")
    print(json.dumps({wording: measure(reader, encoder, wording) for wording in args.wording}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
