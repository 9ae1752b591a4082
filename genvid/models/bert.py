"""A BERT-family encoder (the packaged MiniLM) run from its own files with torch and ``tokenizers``
only: what ``genvid generate`` encodes prompts with, without importing transformers' model code.

transformers' ``AutoModel`` load of MiniLM imports its modelling base, quantizer registry (torchao)
and ``torch._dynamo``: about 3 CPU-seconds of a command whose sampling takes one. This module
reads the same ``config.json``, ``tokenizer.json`` and ``model.safetensors`` and computes the same
``last_hidden_state`` operation for operation as transformers' ``BertModel`` with its default SDPA
attention (embeddings summed word + type + position, post-norm layers, exact GELU, a boolean key
mask only when a row is padded), so the hidden states are equal to the bit
(tests/test_text_encoder.py compares them). A folder of another kind is refused with
:class:`UnsupportedEncoder`, and the caller loads it with transformers instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from genvid.models.attention import attention


class UnsupportedEncoder(ValueError):
    """The folder holds an encoder this module does not reproduce (load it with transformers)."""


#: config values this module reproduces; anything else is refused
_EXPECTED = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute", "is_decoder": False,
             "add_cross_attention": False}


class BertLayer(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.attention_out = nn.Linear(hidden_size, hidden_size)
        self.attention_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.intermediate = nn.Linear(hidden_size, intermediate_size)
        self.output = nn.Linear(intermediate_size, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length = x.shape[:2]

        def heads(projection: nn.Linear) -> torch.Tensor:
            return projection(x).view(batch, length, -1, self.head_dim).transpose(1, 2)

        # the scale as transformers writes it (head_dim ** -0.5), which can differ from 1 / sqrt in the last bit
        mixed = attention(heads(self.query), heads(self.key), heads(self.value), mask, scale=self.head_dim**-0.5,
                          backend="sdpa")
        mixed = mixed.transpose(1, 2).contiguous().reshape(batch, length, -1)
        x = self.attention_norm(self.attention_out(mixed) + x)
        return self.output_norm(self.output(F.gelu(self.intermediate(x))) + x)


class BertEncoder(nn.Module):
    """Token ids and a 0/1 attention mask ``(batch, length)`` -> the last hidden states ``(batch, length, hidden)``."""

    def __init__(self, config: dict):
        super().__init__()
        for key, value in _EXPECTED.items():
            if config.get(key, value) != value:
                raise UnsupportedEncoder(f"{key}={config.get(key)!r}")
        if config.get("chunk_size_feed_forward", 0):
            raise UnsupportedEncoder("chunk_size_feed_forward")
        self.config = SimpleNamespace(**config)  # attribute access, as a transformers config
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], hidden, padding_idx=config.get("pad_token_id"))
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            [BertLayer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
             for _ in range(config["num_hidden_layers"])]
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device)[None]
        types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(types)
        x = self.embedding_norm(x + self.position_embeddings(positions))
        mask = None
        if not bool(attention_mask.bool().all()):
            # transformers' SDPA mask: every query row sees the real keys of its sequence
            mask = attention_mask.bool()[:, None, None, :].expand(batch, 1, length, length).contiguous()
        for layer in self.layers:
            x = layer(x, mask)
        return x


def _state_dict_names(layer: int) -> dict[str, str]:
    """genvid's parameter names -> the checkpoint's (transformers' BertModel layout)."""
    prefix = f"encoder.layer.{layer}."
    names = {
        "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
        "attention_out": "attention.output.dense", "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense", "output": "output.dense", "output_norm": "output.LayerNorm",
    }
    return {f"layers.{layer}.{ours}.{kind}": f"{prefix}{theirs}.{kind}" for ours, theirs in names.items()
            for kind in ("weight", "bias")}


def load_bert(folder) -> BertEncoder:
    """The encoder in a transformers BERT folder (``config.json`` + ``model.safetensors``); raises
    :class:`UnsupportedEncoder` for anything else (another architecture, sharded or pickled weights)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise UnsupportedEncoder(f"no model.safetensors in {folder}")
    encoder = BertEncoder(json.loads((folder / "config.json").read_text()))
    checkpoint = load_file(str(weights))
    prefix = "bert." if any(name.startswith("bert.") for name in checkpoint) else ""
    names = {
        "word_embeddings.weight": "embeddings.word_embeddings.weight",
        "position_embeddings.weight": "embeddings.position_embeddings.weight",
        "token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
        "embedding_norm.weight": "embeddings.LayerNorm.weight",
        "embedding_norm.bias": "embeddings.LayerNorm.bias",
    }
    for layer in range(len(encoder.layers)):
        names.update(_state_dict_names(layer))
    missing = [theirs for theirs in names.values() if prefix + theirs not in checkpoint]
    if missing:
        raise UnsupportedEncoder(f"{weights} lacks {missing[0]}")
    encoder.load_state_dict({ours: checkpoint[prefix + theirs] for ours, theirs in names.items()}, strict=True)
    return encoder.eval().requires_grad_(False)


class WordPieceTokenizer:
    """The folder's ``tokenizer.json`` through ``tokenizers``: prompts -> ``input_ids`` and
    ``attention_mask`` ``(batch, length)`` as transformers' fast tokenizer returns them (truncated to
    ``max_length``, padded on the right to the longest prompt or to ``max_length``)."""

    def __init__(self, folder):
        from tokenizers import Tokenizer

        folder = Path(folder)
        path, settings_path = folder / "tokenizer.json", folder / "tokenizer_config.json"
        if not path.is_file() or not settings_path.is_file():
            raise UnsupportedEncoder(f"no tokenizer.json / tokenizer_config.json in {folder}")
        settings = json.loads(settings_path.read_text())
        if settings.get("tokenizer_class") not in ("BertTokenizer", "BertTokenizerFast"):
            raise UnsupportedEncoder(f"tokenizer_class {settings.get('tokenizer_class')!r}")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.model_max_length = int(settings.get("model_max_length") or 0)
        self.pad_token_id = self.tokenizer.token_to_id(settings.get("pad_token", "[PAD]"))
        if self.pad_token_id is None:
            raise UnsupportedEncoder("the tokenizer has no pad token")

    def __call__(self, prompts: list[str], max_length: int, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.tokenizer.enable_truncation(max_length)
        try:
            encodings = self.tokenizer.encode_batch(prompts)
        finally:
            self.tokenizer.no_truncation()
        ids = [encoding.ids for encoding in encodings]
        length = max_length if padding == "max_length" else max(len(row) for row in ids)
        input_ids = torch.full((len(ids), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.long)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            attention_mask[row, : len(tokens)] = 1
        return input_ids, attention_mask
