"""Checks on what a user typed, run before anything slow is loaded.

Each failure is a :class:`genvid.errors.GenvidError` whose message names the option and the value,
so the CLI prints it as one line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from genvid.errors import GenvidError

# ``owner/name`` with no path-like start: what a user copies from a model hub page
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

PIPELINE_KINDS = {"GenVidDiffusionPipeline": "diffusion", "GenVidARPipeline": "ar"}

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".m4v")


def check_number(value, option: str, *, minimum=None, maximum=None, above=None, below=None):
    """``value`` (None passes) must be finite and within the bounds given (``above``/``below``: strict)."""
    if value is None:
        return value
    if not math.isfinite(value):
        raise GenvidError(f"{option} must be a finite number, got {value}")
    bounds = []
    if minimum is not None and value < minimum:
        bounds.append(f">= {minimum}")
    if above is not None and value <= above:
        bounds.append(f"> {above}")
    if maximum is not None and value > maximum:
        bounds.append(f"<= {maximum}")
    if below is not None and value >= below:
        bounds.append(f"< {below}")
    if bounds:
        raise GenvidError(f"{option} must be {' and '.join(bounds)}, got {value}")
    return value


def check_options(args, bounds: dict) -> None:
    """Each ``--option`` named in ``bounds`` (``{"--steps": {"minimum": 1}}``) checked with
    :func:`check_number` from ``args``; ``--seed`` options by :func:`check_seed`."""
    for option, limits in bounds.items():
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if option.endswith("seed"):
            check_seed(value, option)
        else:
            check_number(value, option, **limits)


def check_output_suffix(path, option: str, suffixes: tuple[str, ...]) -> Path:
    """An output path whose suffix names a format genvid writes (``suffixes``: ``(".png",)``)."""
    output = Path(path)
    if output.suffix.lower() not in suffixes:
        raise GenvidError(f"{option} must end in {', '.join(suffixes[:-1])}{' or ' if len(suffixes) > 1 else ''}"
                          f"{suffixes[-1]}, got {output.name}")
    if output.is_dir():
        raise GenvidError(f"{option} {output} is a folder")
    return output


def check_frame_count(value, option: str = "--num-frames") -> None:
    """A causal tokenizer's clip length: 1 + 4k frames."""
    check_number(value, option, minimum=1)
    if value is not None and (value - 1) % 4:
        low = 1 + (value - 1) // 4 * 4
        raise GenvidError(f"{option} {value}: clips are 1 + 4k frames (e.g. {low} or {low + 4})")


def check_seed(seed: int | None, option: str = "--seed") -> None:
    # what torch.Generator.manual_seed takes without wrapping around
    check_number(seed, option, minimum=0, maximum=2**64 - 1)


def resolve_device(name: str | None, option: str = "--device"):
    """``--device`` as a torch.device that exists here (default: cuda when available, else cpu)."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise GenvidError(f"{option} {name!r} is not a device name (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise GenvidError(f"{option} {name}: this torch {torch.__version__} is a CPU build without CUDA; use --device cpu")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise GenvidError(f"{option} {name}: torch sees no GPU on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise GenvidError(f"{option} {name}: there are only {count} GPU(s) here (cuda:0 to cuda:{count - 1})")
        return device
    backend = torch.backends.mps if device.type == "mps" else getattr(torch, device.type, None)
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise GenvidError(f"{option} {name}: no {device.type} device on this machine; use --device cpu")
    return device


def existing_file(path: str, option: str) -> Path:
    file = Path(path).expanduser()
    if file.is_dir():
        raise GenvidError(f"{option} {path} is a folder, expected a file")
    if not file.is_file():
        raise GenvidError(f"{option} {path}: file not found")
    if file.stat().st_size == 0:
        raise GenvidError(f"{option} {path}: the file is empty")
    return file


def check_image_file(path: str, option: str = "--image") -> None:
    """``path`` must open as a still image (a video or a text file gives one line saying so)."""
    from PIL import Image

    file = existing_file(path, option)
    try:
        with Image.open(file) as image:
            image.convert("RGB")
            frames = getattr(image, "n_frames", 1)
    except Exception as error:  # PIL raises many kinds; what the user needs is which file and why
        hint = " (it looks like a video: give one frame as .png or .jpg)" if file.suffix.lower() in VIDEO_SUFFIXES else ""
        raise GenvidError(f"{option} {path} is not a readable image{hint}: {' '.join(str(error).split())}") from None
    if frames > 1:
        raise GenvidError(f"{option} {path} holds {frames} frames; give one image (.png or .jpg)")


def probe_media(path: str, option: str) -> dict:
    """Frames / size / fps of a video (or image) file, read without decoding it all."""
    from genvid.data import probe_video

    existing_file(path, option)
    try:
        return probe_video(path)
    except GenvidError as error:
        raise GenvidError(f"{option}: {error}") from None


def probe_audio(path: str, option: str = "--audio") -> None:
    """``path`` holds a readable sound track (a wav, an mp3, a video with sound); read 50 ms of it."""
    from genvid.data.audio_io import has_audio

    existing_file(path, option)
    try:
        found = has_audio(path)
    except GenvidError as error:
        raise GenvidError(f"{option}: {error}") from None
    if not found:
        raise GenvidError(f"{option} {path} has no audio track")


def local_folder(path: str, option: str, what: str) -> Path:
    """A folder that exists on this machine; a hub-like id is refused, never looked up."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        return folder
    if folder.exists():
        raise GenvidError(f"{option} {path} is a file, expected a {what} folder")
    if HUB_ID.match(str(path)):
        raise GenvidError(
            f"{option} {path} is not a local folder; genvid never downloads (it runs offline): "
            f"fetch that {what} yourself and pass its local path"
        )
    raise GenvidError(f"{option} {path}: no such folder")


def read_json(path: Path, option: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GenvidError(f"{option}: cannot read {path}: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise GenvidError(f"{option}: {path} is not a JSON object")
    return data


def pipeline_kind(folder: Path, option: str = "--pipeline") -> str:
    """"diffusion" or "ar", read from the folder's model_index.json ``_class_name``."""
    index = folder / "model_index.json"
    if not index.is_file():
        config = folder / "config.json"
        if config.is_file():
            name = read_json(config, option).get("_class_name", "model")
            raise GenvidError(
                f"{option} {folder} holds a {name}, not a pipeline (no model_index.json); give a pipeline "
                "folder such as one written by 'genvid export' from a dit or lm run"
            )
        raise GenvidError(f"{option} {folder} is not a pipeline folder (no model_index.json)")
    name = read_json(index, option).get("_class_name")
    if name not in PIPELINE_KINDS:
        raise GenvidError(
            f"{option} {folder} holds a {name} pipeline; genvid runs {' or '.join(PIPELINE_KINDS)}"
        )
    return PIPELINE_KINDS[name]


def pipeline_folder(path: str | None, model: str | None, option: str = "--pipeline") -> tuple[Path, str]:
    """A local pipeline folder (default: the shipped demo of ``model``) and its kind; ``model``, when
    given, only checks that kind."""
    from genvid.demo import demo_path

    folder = local_folder(path or demo_path(model or "diffusion"), option, "pipeline")
    kind = pipeline_kind(folder, option)
    if model is not None and model != kind:
        raise GenvidError(f"{option} {folder} holds the {kind} kind of pipeline, not {model}; drop --model or pass --model {kind}")
    return folder, kind


def has_component(folder: Path, component: str, option: str = "--pipeline") -> bool:
    """Whether the pipeline's model_index.json names a ``component`` (``audio_codec``: [null, null] = none)."""
    entry = read_json(folder / "model_index.json", option).get(component)
    return isinstance(entry, list) and any(item is not None for item in entry)


def has_sound(folder: Path, option: str = "--pipeline") -> bool:
    """Whether the pipeline has an audio codec and a transformer trained with its codes."""
    return has_component(folder, "audio_codec", option) and bool(
        component_config(folder, "transformer", option).get("num_audio_codebooks", 0))


def component_config(folder: Path, component: str, option: str = "--pipeline") -> dict:
    """The config.json of one pipeline component (empty when the folder has none)."""
    path = folder / component / "config.json"
    return read_json(path, option) if path.is_file() else {}


def check_adapters(specs: list[str], option: str = "--lora") -> None:
    """Each ``PATH[:SCALE]`` names a LoRA file that is there, at a finite scale (before any load)."""
    from genvid.pipelines.lora import lora_file, parse_adapter

    for spec in specs:
        path, scale = parse_adapter(spec)
        check_number(scale, f"{option} {spec}: the scale")
        try:
            lora_file(path)
        except GenvidError as error:
            raise GenvidError(f"{option} {spec}: {error}") from None
