"""The optional summary files a pipeline folder keeps beside its components.

Each is one safetensors file: named tensors plus string metadata (JSON where a value is not a
string). ``known_captions.safetensors`` (genvid.known_prompts) and ``caption_words.safetensors``
(genvid.pipelines.prompt_reading) are read and written here; :class:`FolderFile` is the base of the
classes they load as.
"""

from __future__ import annotations

from pathlib import Path

import torch


def read_folder_file(folder, file_name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """``(tensors, metadata)`` of ``folder / file_name``, or None where the folder has no such file."""
    from safetensors import safe_open

    path = Path(folder) / file_name
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}, handle.metadata() or {}


def write_folder_file(folder, file_name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write ``tensors`` (made contiguous) and ``metadata`` to ``folder / file_name``; returns the path."""
    from safetensors.torch import save_file

    path = Path(folder) / file_name
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(path), metadata=metadata)
    return path


class FolderFile:
    """What a pipeline folder keeps in one such file (``file_name``): :meth:`from_folder` loads it,
    :meth:`save` writes it. A subclass builds itself from the file (:meth:`from_stored`) and says what
    it writes (:meth:`stored`)."""

    file_name: str

    @classmethod
    def from_folder(cls, folder):
        """The file's object of a pipeline folder, or None where the folder has no such file."""
        stored = read_folder_file(folder, cls.file_name)
        return None if stored is None else cls.from_stored(folder, *stored)

    @classmethod
    def from_stored(cls, folder, tensors: dict[str, torch.Tensor], metadata: dict[str, str]):
        """The object the file's ``tensors`` and ``metadata`` describe (``folder``: where it was read)."""
        raise NotImplementedError

    def stored(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """``(tensors, metadata)``: what :meth:`save` writes and :meth:`from_stored` reads back."""
        raise NotImplementedError

    def save(self, folder) -> Path:
        """Write this object's file into ``folder``; returns its path."""
        return write_folder_file(folder, self.file_name, *self.stored())
