"""Editing measured on held-out clips (the measuring part of ``genvid eval edit``).

Every clip is a synthetic render (genvid.data.synthetic) of a combination of the split, at the
demo's default size (17x64x64), prompted with its own caption:

- inpaint: the token cells the object covers in any frame are regenerated in every frame; the rest
  (background alone) keeps its tokens;
- outpaint: a full-width (or full-height) band of cells the object never touches is kept, everything
  else regenerated;

so the object lies wholly inside the regenerated region and the analyzer's reading of the output
comes from regenerated tokens. Per clip: the prompt's colour / shape / motion read, and whether
every kept token equals the input's.

- keyframes: the first and last frames given; the object's centre in the generated frames between
  them against its true path (pixels);
- continue: the demo's own 17-frame clip, written to mp4 by ``genvid generate`` and continued by
  ``genvid generate --video`` with no other option; the analyzer reads the new window.
"""

from __future__ import annotations

import numpy as np
import torch

from genvid.data.synthetic import caption_for, render_clip
from genvid.eval.analyzer import MASK_THRESHOLD, analyze_clip

TASKS = ("inpaint", "outpaint", "keyframes", "continue")
ATTRIBUTES = ("color", "shape", "motion")
#: the render seed of sample ``s`` of combination ``c``: held apart from every training seed's range
SEED_BASE = 900_000


def object_pixels(clip: torch.Tensor) -> np.ndarray:
    """``(T, H, W)`` bool: where a rendered clip's object is (far from the frame's median colour)."""
    frames = (clip.float().clamp(-1, 1) + 1) * 127.5  # (3, T, H, W)
    background = frames.flatten(2).median(dim=2).values[:, :, None, None]
    return ((frames - background).abs().amax(dim=0) > MASK_THRESHOLD).numpy()


def object_centres(clip: torch.Tensor) -> np.ndarray:
    """``(T, 2)`` the object's centre (x, y) in pixels per frame; NaN where none is seen."""
    pixels = object_pixels(clip)
    centres = np.full((pixels.shape[0], 2), np.nan)
    for index, frame in enumerate(pixels):
        rows, columns = np.nonzero(frame)
        if len(rows):
            centres[index] = columns.mean(), rows.mean()
    return centres


def editing_masks(clip: torch.Tensor, cell: int) -> dict[str, torch.Tensor]:
    """Pixel masks ``(T, H, W)`` (True = generate) aligned to the ``cell`` x ``cell`` token grid:
    ``inpaint`` the cells the object covers in any frame; ``outpaint`` all but the widest band of
    whole rows (horizontal motion) or columns (vertical) of cells it never touches."""
    frames, height, width = clip.shape[1:]
    covered = object_pixels(clip).any(axis=0)
    cells = covered.reshape(height // cell, cell, width // cell, cell).any(axis=(1, 3))
    used_rows, used_columns = np.nonzero(cells.any(axis=1))[0], np.nonzero(cells.any(axis=0))[0]
    inpaint = torch.from_numpy(np.kron(cells, np.ones((cell, cell), dtype=bool)))
    # the band beside the object's path: rows above or below it when it moves sideways, else columns
    horizontal = (used_columns[-1] - used_columns[0]) >= (used_rows[-1] - used_rows[0])
    used, count = (used_rows, cells.shape[0]) if horizontal else (used_columns, cells.shape[1])
    before, after = (0, used[0]), (used[-1] + 1, count)
    start, end = max(before, after, key=lambda span: span[1] - span[0])
    outpaint = torch.ones(height, width, dtype=torch.bool)
    if horizontal:
        outpaint[start * cell : end * cell] = False
    else:
        outpaint[:, start * cell : end * cell] = False
    return {name: mask[None].expand(frames, -1, -1) for name, mask in (("inpaint", inpaint), ("outpaint", outpaint))}


def held_out_clips(combinations, samples_per_combination: int, num_frames: int = 17, height: int = 64, width: int = 64):
    """``[(combination, render)]``: ``samples_per_combination`` renders of each combination."""
    return [(tuple(combination), render_clip(*combination, num_frames=num_frames, height=height, width=width,
                                             seed=SEED_BASE + 1000 * index + sample))
            for index, combination in enumerate(combinations) for sample in range(samples_per_combination)]


def read_hits(clip: torch.Tensor, label) -> dict:
    found = analyze_clip(clip)
    hits = {name: found[name] == wanted for name, wanted in zip(ATTRIBUTES, label)}
    return {"read": [found[name] for name in ATTRIBUTES], **hits, "all": all(hits.values())}


def measure_region_edit(pipeline, task: str, combination, clip: torch.Tensor, seed: int, **call_options) -> dict:
    """One inpaint / outpaint of ``clip`` with its caption: what is read, and whether the kept tokens
    came back exactly."""
    mask = editing_masks(clip, pipeline.video_tokenizer.spatial_factor)[task]
    generator = torch.Generator().manual_seed(seed)
    frames, height, width = clip.shape[1:]
    ids = pipeline(caption_for(*combination), video=clip, mask=mask, task=task, num_frames=frames, height=height,
                   width=width, generator=generator, output_type="latent", **call_options).frames
    tokenizer = pipeline.video_tokenizer
    given = tokenizer.tokenize(clip[None].to(pipeline._execution_device, tokenizer.dtype)).to(ids.device)
    region = pipeline.mask_to_grid(mask, 1, *clip.shape[1:], ids.shape[1:]).to(ids.device)
    edited = tokenizer.detokenize(ids).float().clamp(-1, 1).cpu()[0]
    return {"label": list(combination), "region_tokens": int(region.sum()),
            "kept_exact": bool(torch.equal(ids[~region], given[~region])), **read_hits(edited, combination)}


def measure_keyframes(pipeline, combination, clip: torch.Tensor, seed: int, **call_options) -> dict:
    """The first and last frames of ``clip`` as keyframes: the object's centre in every frame between,
    against the render's (mean and largest distance in pixels over frames where both are seen)."""
    frames, height, width = clip.shape[1:]
    generator = torch.Generator().manual_seed(seed)
    keyframes = [(clip[:, 0], 0), (clip[:, -1], frames - 1)]
    output = pipeline(caption_for(*combination), keyframes=keyframes, num_frames=frames, height=height, width=width,
                      generator=generator, output_type="pt", **call_options).frames
    made = output[0].transpose(0, 1) * 2 - 1
    distances = np.linalg.norm(object_centres(made)[1:-1] - object_centres(clip)[1:-1], axis=1)
    seen = distances[~np.isnan(distances)]
    return {"label": list(combination), "frames_seen": int(len(seen)), "frames_between": frames - 2,
            "mean_distance": float(seen.mean()) if len(seen) else None, **read_hits(made, combination)}


def measure_continuation(folder, model: str | None, combination, work, seed: int) -> dict:
    """``genvid generate PROMPT -o clip.mp4`` (the demo's own clip), then ``genvid generate PROMPT
    --video clip.mp4 -o next.mp4`` with no other option; the new window is read."""
    from pathlib import Path

    from genvid.cli import main
    from genvid.data import read_video
    from genvid.eval.long_video import WINDOW

    prompt = caption_for(*combination)
    work = Path(work)
    name = "_".join((*combination, str(seed)))
    given, continued = work / f"{name}.mp4", work / f"{name}_next.mp4"
    where = ["--model", model] if model else []
    where += ["--pipeline", str(folder)] if folder else []
    first = main(["generate", prompt, *where, "--seed", str(seed), "-o", str(given), "--overwrite"])
    status = main(["generate", prompt, *where, "--video", str(given), "-o", str(continued), "--overwrite"])
    result = {"label": list(combination), "exit_status": status if first == 0 else first}
    if result["exit_status"] != 0:
        return result | {"frames": 0, "read": [None] * 3, "all": False, **{name: False for name in ATTRIBUTES}}
    clip, longer = read_video(given), read_video(continued)
    result["frames"] = int(longer.shape[1])
    result["given_frames"] = int(clip.shape[1])
    return result | read_hits(longer[:, -WINDOW:], combination)


def summarize(records: list[dict]) -> dict:
    """Shares of clips read right per attribute (and all three), kept tokens exact where measured,
    and the keyframe path distance where measured."""
    summary = {f"{name}_accuracy": sum(record[name] for record in records) / len(records) for name in (*ATTRIBUTES, "all")}
    summary["num_clips"] = len(records)
    if "kept_exact" in records[0]:
        summary["kept_exact"] = sum(record["kept_exact"] for record in records) / len(records)
    distances = [record["mean_distance"] for record in records if record.get("mean_distance") is not None]
    if "mean_distance" in records[0]:
        summary["mean_distance"] = float(np.mean(distances)) if distances else None
        summary["within_3px"] = sum(distance <= 3 for distance in distances) / len(records)
    if "exit_status" in records[0]:
        summary["ran"] = sum(record["exit_status"] == 0 for record in records) / len(records)
    summary["clips"] = records
    return summary


def evaluate_editing(pipeline, combinations, tasks=TASKS, samples_per_combination: int = 1, seed: int = 0,
                     folder=None, model: str | None = None, work=None, size=(17, 64, 64), **call_options) -> dict:
    """``{task: summary}`` for each of ``tasks`` over renders of ``combinations`` at ``size`` (frames,
    height, width); ``continue`` runs the CLI on ``folder`` (its defaults), writing clips under ``work``."""
    clips = held_out_clips(combinations, samples_per_combination, *size)
    report = {}
    for task in tasks:
        if task in ("inpaint", "outpaint"):
            records = [measure_region_edit(pipeline, task, combination, clip, seed + index, **call_options)
                       for index, (combination, clip) in enumerate(clips)]
        elif task == "keyframes":
            records = [measure_keyframes(pipeline, combination, clip, seed + index, **call_options)
                       for index, (combination, clip) in enumerate(clips)]
        elif task == "continue":
            records = [measure_continuation(folder, model, combination, work, seed + index)
                       for index, (combination, _) in enumerate(clips)]
        else:
            raise ValueError(f"unknown editing task {task!r}; expected one of {', '.join(TASKS)}")
        report[task] = summarize(records)
    return report
