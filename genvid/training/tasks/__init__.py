"""Registry of training tasks: the ``task:`` key of a config names one of these."""

from __future__ import annotations

import importlib

from genvid.config import ConfigError

TASKS = {
    "tokenizer": "genvid.training.tasks.tokenizer:TokenizerTask",
    "dit": "genvid.training.tasks.dit:DiffusionTask",
    "lm": "genvid.training.tasks.lm:LanguageModelTask",
    "audio_codec": "genvid.training.tasks.audio_codec:AudioCodecTask",
    "super_resolution": "genvid.training.tasks.super_resolution:SuperResolutionTask",
}


def get_task_class(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    module_name, class_name = TASKS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise ConfigError(f"task {name!r} is not built yet") from None
        raise
    return getattr(module, class_name)
