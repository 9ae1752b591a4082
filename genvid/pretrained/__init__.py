"""The tokenizers genvid ships inside the package (genvid/pretrained/, weights in git, no download).

``gaussian`` (16 continuous channels, for the DiT and for ``genvid encode``) and ``fsq`` (64000 codes,
for the LM), both 4x8x8, trained on bundled real photographs filmed by a simulated camera plus the
synthetic set (scripts/train_default_tokenizers.py; figures in genvid/pretrained/README.md).

Example::

    >>> from genvid.pretrained import load_pretrained_tokenizer
    >>> tokenizer = load_pretrained_tokenizer("gaussian")
    >>> reconstruction = tokenizer.decode(tokenizer.encode(video))   # video (B, 3, 1 + 4k, 8m, 8n) in [-1, 1]
"""

from __future__ import annotations

from pathlib import Path

from genvid.errors import GenvidError

KINDS = ("gaussian", "fsq")
DEFAULT_KIND = "gaussian"
#: how a codes file records a shipped tokenizer, so that it decodes on any installation
REFERENCE_PREFIX = "pretrained:"
ROOT = Path(__file__).parent  # tokenizer_<kind>/ folders beside this module


def pretrained_tokenizer_path(kind: str = DEFAULT_KIND) -> Path:
    """The save_pretrained folder of the shipped tokenizer ``kind`` ("gaussian" | "fsq")."""
    if kind not in KINDS:
        raise GenvidError(f"unknown pretrained tokenizer {kind!r}; expected one of {', '.join(KINDS)}")
    folder = ROOT / f"tokenizer_{kind}"
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise GenvidError(
            f"the shipped {kind} tokenizer is missing: expected {folder / 'config.json'} and its safetensors "
            "(reinstall genvid, or train it: python scripts/train_default_tokenizers.py)"
        )
    return folder


def resolve_tokenizer(path_or_reference: str | None, kind: str = DEFAULT_KIND) -> Path:
    """A folder for ``--tokenizer``: a path, ``pretrained:<kind>``, or None for the shipped ``kind``."""
    if path_or_reference is None:
        return pretrained_tokenizer_path(kind)
    if str(path_or_reference).startswith(REFERENCE_PREFIX):
        return pretrained_tokenizer_path(str(path_or_reference)[len(REFERENCE_PREFIX):])
    return Path(path_or_reference)


def load_pretrained_tokenizer(kind: str = DEFAULT_KIND, device=None, dtype=None):
    """The shipped tokenizer ``kind`` as a VideoTokenizer in eval mode."""
    import torch

    from tokenizer import VideoTokenizer

    tokenizer = VideoTokenizer.from_pretrained(str(pretrained_tokenizer_path(kind)), torch_dtype=dtype or torch.float32)
    return tokenizer.to(device or "cpu").eval()
