"""Long video past the training length, measured (the measuring part of ``genvid eval long``).

Both pipelines make a clip longer than one training window window by window (the AR LM rolls
forward on its own last latent frames, the DiT denoises each segment conditioned on the previous
one's last latent frames); the causal tokenizer decodes the whole as one stream. Three questions:

- does the prompt hold all along? The analyzer (genvid.eval.analyzer) reads colour, shape and
  motion in every window of ``WINDOW`` frames (stride ``WINDOW - 1``: 129 frames are 8 windows);
  the same windows of the true clips (genvid.data.synthetic at the 17-frame speed, wrapping around
  the frame) are the ceiling, reported beside them;
- does a seam stand out? The frame-to-frame change (mean absolute pixel difference) where a
  window's newly made frames begin, against the median change at every other frame;
- is memory flat in length? Peak memory and time per frame of one clip at several lengths.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from genvid.errors import GenvidError
from genvid.eval.analyzer import analyze_clip
from genvid.pipelines.conditioning import windows

#: frames the analyzer reads at a time: the demo's training length
WINDOW = 17
#: a seam stands out when its change is more than this many times the median change elsewhere
SEAM_LIMIT = 2.0
ATTRIBUTES = ("color", "shape", "motion")


def window_option(pipeline) -> str:
    """The call argument that sets a pipeline's window: ``segment_frames`` (DiT) or ``window_frames`` (AR)."""
    return "segment_frames" if hasattr(pipeline, "scheduler") else "window_frames"


def frame_windows(num_frames: int, window: int = WINDOW) -> list[tuple[int, int]]:
    """Frame spans ``[start, end)`` of ``window`` frames, each starting on the previous one's last
    frame (a causal tokenizer's 1 + 4k layout: 129 frames -> 8 windows)."""
    if num_frames < window:
        raise GenvidError(f"a clip of {num_frames} frames holds no {window}-frame window")
    return [(start, start + window) for start in range(0, num_frames - window + 1, window - 1)]


def window_readings(clip: torch.Tensor, label, window: int = WINDOW) -> list[dict]:
    """What the analyzer reads in each window of ``clip (3, T, H, W)``, with a hit per attribute of
    ``label (color, shape, motion)`` and ``all`` when all three are right."""
    readings = []
    for start, end in frame_windows(clip.shape[1], window):
        found = analyze_clip(clip[:, start:end])
        hits = {name: found[name] == wanted for name, wanted in zip(ATTRIBUTES, label)}
        readings.append({"start": start, "read": [found[name] for name in ATTRIBUTES], **hits, "all": all(hits.values())})
    return readings


def frame_changes(clip: torch.Tensor) -> np.ndarray:
    """Mean absolute difference between consecutive frames, 0-255 scale: ``(T - 1,)``; entry ``i``
    is the change from frame ``i`` to frame ``i + 1``."""
    frames = (clip.float().clamp(-1, 1) + 1) * 127.5
    return (frames[:, 1:] - frames[:, :-1]).abs().mean(dim=(0, 2, 3)).cpu().numpy()


def seam_changes(num_frames: int, window_frames: int, context_frames: int, temporal_factor: int) -> list[int]:
    """Indices into :func:`frame_changes` that cross from one window's frames into the next one's
    newly made frames: a window ending at latent frame ``e`` is followed by latent frame ``e``,
    whose first pixel frame is ``1 + temporal_factor * (e - 1)``."""
    latent_frames = 1 + (num_frames - 1) // temporal_factor
    window = 1 + (window_frames - 1) // temporal_factor
    if latent_frames <= window:
        return []
    spans = windows(latent_frames, window, context_frames)
    return [temporal_factor * (end - 1) for _, end in spans[:-1]]


def seam_ratios(clip: torch.Tensor, seams: list[int]) -> list[float]:
    """Each seam's frame-to-frame change over the median change at every other frame."""
    changes = frame_changes(clip)
    others = np.delete(changes, seams)
    median = max(float(np.median(others)), 1e-6)
    return [float(changes[index]) / median for index in seams]


def generate_long(pipeline, combinations, num_frames: int, samples_per_combination: int = 1, batch_size: int = 8,
                  seed: int = 0, wording: str = "canonical", **call_options) -> tuple[list, list[torch.Tensor]]:
    """``(labels, clips)``: one ``num_frames`` clip ``(3, T, H, W)`` per (combination, sample)."""
    from genvid.eval.prompts_eval import generate_for_combinations

    clips = generate_for_combinations(pipeline, combinations, samples_per_combination, batch_size, seed, wording,
                                      num_frames=num_frames, **call_options)
    labels = [tuple(combination) for combination in combinations for _ in range(samples_per_combination)]
    return labels, clips


def true_clip_windows(labels, num_frames: int, height: int, width: int) -> float:
    """Share of the windows read right (all three attributes) in the true clips of ``labels``:
    render_clip at the speed of a ``WINDOW``-frame clip, wrapping around the frame (one seed per clip)."""
    from genvid.data.synthetic import render_clip

    readings = [reading["all"] for index, label in enumerate(labels)
                for reading in window_readings(render_clip(*label, num_frames, height, width, index, WINDOW), label)]
    return sum(readings) / len(readings)


def summarize(labels, clips, window_frames: int, context_frames: int, temporal_factor: int) -> dict:
    """Share of windows read right per attribute (and all three), the same for the true clips
    (``true_clip_all_windows``, the ceiling), and the seams against the rest."""
    readings = [window_readings(clip, label) for label, clip in zip(labels, clips)]
    flat = [reading for clip_readings in readings for reading in clip_readings]
    seams = seam_changes(clips[0].shape[1], window_frames, context_frames, temporal_factor)
    ratios = [ratio for clip in clips for ratio in seam_ratios(clip, seams)]
    report = {f"{name}_windows": sum(reading[name] for reading in flat) / len(flat) for name in (*ATTRIBUTES, "all")}
    report["true_clip_all_windows"] = true_clip_windows(sorted(set(labels)), *clips[0].shape[1:])
    report.update(num_clips=len(clips), num_windows=len(flat), num_frames=clips[0].shape[1], seams_per_clip=len(seams))
    if ratios:
        report.update(seam_ratio_median=statistics.median(ratios), seam_ratio_max=max(ratios),
                      seams_within_limit=sum(ratio <= SEAM_LIMIT for ratio in ratios) / len(ratios))
    report["clips"] = [{"label": list(label), "windows": [reading["read"] for reading in clip_readings],
                        "seam_ratios": [round(ratio, 3) for ratio in seam_ratios(clip, seams)]}
                       for label, clip, clip_readings in zip(labels, clips, readings)]
    return report


def measure_lengths(pipeline, prompt: str, lengths=(33, 129, 513), seed: int = 0, **call_options) -> list[dict]:
    """Seconds, seconds per frame and peak memory of one clip at each length (one untimed call at
    the first length first). ``peak_gb``: CUDA's max allocated above the start, or on a CPU the
    process's resident memory above the start, sampled (approximate); ``process_peak_gb``: the same
    peak with what the loaded pipeline already held (all allocated memory / the whole resident set);
    ``output_gb`` is the returned frames' own size, which grows with length whatever the generator does."""
    from genvid.bench.tokenizer import measure_once

    device = torch.device(pipeline._execution_device)

    def call(num_frames):
        generator = torch.Generator().manual_seed(seed)
        return pipeline(prompt, num_frames=num_frames, generator=generator, output_type="pt", **call_options).frames

    call(lengths[0])
    records = []
    for num_frames in lengths:
        seconds, peak, total, frames = measure_once(lambda: call(num_frames), device)
        records.append({"num_frames": num_frames, "seconds": round(seconds, 3),
                        "seconds_per_frame": round(seconds / num_frames, 4), "peak_gb": round(peak / 2**30, 4),
                        "process_peak_gb": round(total / 2**30, 4),
                        "output_gb": round(frames.numel() * frames.element_size() / 2**30, 4)})
        del frames
    for name in ("peak_gb", "process_peak_gb"):
        first = records[0][name]
        for record in records:
            record[name.replace("_gb", "_vs_first")] = round(record[name] / first, 3) if first > 0 else None
    return records


def evaluate_long(pipeline, combinations, num_frames: int = 129, samples_per_combination: int = 1, batch_size: int = 8,
                  seed: int = 0, window_frames: int = WINDOW, context_frames: int = 2, **call_options) -> dict:
    """:func:`summarize` of ``num_frames`` clips of ``combinations`` made with the given windows."""
    options = {window_option(pipeline): window_frames, "context_frames": context_frames, **call_options}
    labels, clips = generate_long(pipeline, combinations, num_frames, samples_per_combination, batch_size, seed,
                                  **options)
    return summarize(labels, clips, window_frames, context_frames, pipeline.video_tokenizer.temporal_factor)

