"""LoRA fine-tuning through the one loop: the base model frozen, peft adapters trained.

``training.lora: {rank, alpha, dropout, target_modules}`` turns it on. The task builds its model
as usual (a fine-tune starts from ``task_options.initial_weights``), then :func:`with_lora` wraps
the task so that its model carries one adapter (diffusers' ``PeftAdapterMixin.add_adapter``, peft
underneath) with every other weight frozen, and its export writes the adapter alone
(``pytorch_lora_weights.safetensors``, diffusers' layout, see :mod:`genvid.pipelines.lora`).
Checkpoints hold the adapter alone too (:func:`save_weights` / :func:`load_weights`): resuming
rebuilds the base from the config. Tokenizer and text encoder stay frozen as in any DiT/LM run.

peft starts ``lora_B`` at zero, so the adapted model equals the base model at step 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genvid.config import ConfigError, build_dataclass

ADAPTER_NAME = "default"


@dataclass
class LoraOptions:
    #: rank of each low-rank update
    rank: int = 8
    #: the update is scaled by alpha / rank; None = rank (scale 1)
    alpha: float | None = None
    dropout: float = 0.0
    #: module name suffixes to adapt (peft's target_modules); None = the model's
    #: ``default_lora_target_modules`` (its attention projections)
    target_modules: list | None = None

    def __post_init__(self):
        if self.rank < 1:
            raise ValueError(f"training.lora.rank must be >= 1, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"training.lora.dropout must be in [0, 1), got {self.dropout}")


def lora_options(section: dict | None) -> LoraOptions | None:
    """The ``training.lora`` mapping as options (None: LoRA off)."""
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"training.lora must be a mapping {{rank, alpha, dropout, target_modules}}, got {section!r}")
    return build_dataclass(LoraOptions, section, "training.lora")


def has_adapters(model: nn.Module) -> bool:
    return bool(getattr(model, "peft_config", None))


def attach_adapter(model: nn.Module, options: LoraOptions) -> nn.Module:
    """Freeze ``model`` and give it one trainable LoRA adapter named ``default``."""
    from peft import LoraConfig

    if not hasattr(model, "add_adapter"):
        raise ConfigError(f"training.lora: {type(model).__name__} takes no adapters (it has no PeftAdapterMixin)")
    targets = list(options.target_modules or getattr(model, "default_lora_target_modules", []) or [])
    if not targets:
        raise ConfigError(f"training.lora.target_modules: give the layers to adapt ({type(model).__name__} names no default)")
    linear_names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    model.requires_grad_(False)
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha if options.alpha is not None else options.rank,
        lora_dropout=options.dropout,
        target_modules=targets,
        init_lora_weights=True,
    )
    try:
        model.add_adapter(config, adapter_name=ADAPTER_NAME)
    except ValueError as error:  # peft: "Target modules {...} not found in the base model"
        raise ConfigError(
            f"training.lora.target_modules {targets} match no layer of {type(model).__name__}; "
            f"its linear layers end in: {', '.join(sorted(linear_names))}"
        ) from None
    return model


def adapter_state(model: nn.Module, adapter_name: str = ADAPTER_NAME) -> dict[str, torch.Tensor]:
    """The adapter's weights in peft's file layout (no adapter name in the keys)."""
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(model, adapter_name=adapter_name)


def adapter_config(model: nn.Module, adapter_name: str = ADAPTER_NAME) -> dict:
    return model.peft_config[adapter_name].to_dict()


def save_weights(model: nn.Module, path: str | Path) -> None:
    """A checkpoint's model file: the adapter alone when the model has one, else every weight."""
    from safetensors.torch import save_model

    if has_adapters(model):
        from genvid.pipelines.lora import write_lora_file

        write_lora_file(path, adapter_state(model), adapter_config(model), prefix="model")
    else:
        save_model(model, str(path))


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> tuple[list[str], list[str]]:
    """Inverse of :func:`save_weights`; returns ``(missing, unexpected)`` keys (adapter keys only
    for an adapted model: its frozen base comes from the config, not the checkpoint)."""
    from safetensors.torch import load_model

    if not has_adapters(model):
        return load_model(model, str(path), strict=strict)
    from peft.utils import set_peft_model_state_dict

    from genvid.pipelines.lora import read_lora_file

    saved, _ = read_lora_file(path)
    saved = {key.removeprefix("model."): value for key, value in saved.items()}
    expected = set(adapter_state(model))
    missing, unexpected = sorted(expected - set(saved)), sorted(set(saved) - expected)
    if strict and (missing or unexpected):
        raise ValueError(f"{path} does not match the model's adapter: missing {missing[:3]}, unexpected {unexpected[:3]}")
    set_peft_model_state_dict(model, {key: saved[key] for key in expected & set(saved)}, adapter_name=ADAPTER_NAME)
    return missing, unexpected


def export_adapter(model: nn.Module, output_dir: str | Path, component: str = "transformer") -> Path:
    """Write the adapter as ``output_dir/pytorch_lora_weights.safetensors`` for a pipeline's
    ``load_lora_weights`` (the model is the pipeline's ``component``)."""
    from genvid.pipelines.lora import LORA_WEIGHT_NAME, write_lora_file

    return write_lora_file(Path(output_dir) / LORA_WEIGHT_NAME, adapter_state(model), adapter_config(model), component)


class LoraTask:
    """A task whose model is its inner task's model plus one adapter; everything else delegates."""

    def __init__(self, task: Any, options: LoraOptions):
        self.task = task
        self.options = options

    def __getattr__(self, name: str):
        return getattr(self.task, name)

    def build_model(self) -> nn.Module:
        return attach_adapter(self.task.build_model(), self.options)

    def export(self, model: nn.Module, output_dir: str | Path) -> None:
        export_adapter(getattr(model, "module", model), output_dir)


def with_lora(task: Any, section: dict | None) -> Any:
    """``task`` itself when ``training.lora`` is unset, else the task training an adapter."""
    options = lora_options(section)
    return task if options is None else LoraTask(task, options)
