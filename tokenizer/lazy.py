"""A module-level ``__getattr__`` for a module that holds a network while its diffusers model class
lives in a sibling module: the class is imported on first use (diffusers' import costs seconds), so
running the network never imports diffusers."""

from __future__ import annotations

import importlib


def diffusers_class_getattr(module: str, class_name: str, class_module: str):
    """``__getattr__`` for ``module``: ``class_name`` from ``class_module`` and, for diffusers'
    pipeline loader (which checks a component's class against the base classes it finds in the
    component's module), diffusers' ``ModelMixin``."""

    def __getattr__(name: str):
        if name == class_name:
            return getattr(importlib.import_module(class_module), class_name)
        if name == "ModelMixin":
            from diffusers import ModelMixin

            return ModelMixin
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
