"""In-process video decoding with PyAV: seek to the first wanted frame, decode only up to the last
one, and let libswscale resize each kept frame on its way out of the decoder.

Why in process: the ffmpeg-binary path (``video_io._read_with_ffmpeg``) starts a subprocess per
read, pipes every decoded frame at full size and drops the unwanted ones in Python. Here a read
costs one container open; frames between the strided ones are decoded (a codec needs them) but
never converted to RGB, and the kept ones come out already at the size the batch needs.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np


def cover_size(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int]:
    """The smallest ``(height, width)`` with the source's aspect ratio that covers the target."""
    scale = max(target_height / height, target_width / width)
    return max(target_height, round(height * scale)), max(target_width, round(width * scale))


def center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(T, H, W, 3)`` -> the central ``height x width`` window."""
    top = (frames.shape[1] - height) // 2
    left = (frames.shape[2] - width) // 2
    return frames[:, top : top + height, left : left + width]


def _frame_index(frame, stream, fps: float, origin: float) -> int:
    if frame.pts is None:
        return -1
    return int(math.floor((float(frame.pts * stream.time_base) - origin) * fps + 0.5))


def read_frames_av(
    path: str | Path,
    num_frames: int | None,
    frame_stride: int = 1,
    start: int = 0,
    cover: tuple[int, int] | None = None,
    threads: int = 1,
) -> list[np.ndarray]:
    """Frames ``start, start + stride, ...`` (at most ``num_frames``; all when None) as
    ``(H, W, 3)`` uint8 arrays, scaled (aspect kept) to just cover ``cover = (height, width)``
    when given (crop them with :func:`center_crop`).

    ``threads``: decoder threads; 1 suits DataLoader workers (one process per core already).
    """
    import av

    wanted_last = None if num_frames is None else start + (num_frames - 1) * frame_stride
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        fps = float(rate)
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        size = None
        if cover is not None:
            size = cover_size(stream.codec_context.height, stream.codec_context.width, *cover)
        if start > 0 and fps > 0:
            # lands on the key frame at or before the start; frames before it are decoded, not kept
            target = origin + (start - 0.5) / fps
            container.seek(max(0, int(target / stream.time_base)), stream=stream, backward=True, any_frame=False)
        counter = 0
        for frame in container.decode(stream):
            index = _frame_index(frame, stream, fps, origin) if fps > 0 else counter
            counter += 1
            if index < start:
                continue
            if wanted_last is not None and index > wanted_last:
                break
            if (index - start) % frame_stride:
                continue
            if size is not None and (frame.height, frame.width) != size:
                downscale = size[0] < frame.height or size[1] < frame.width
                array = frame.to_ndarray(
                    format="rgb24", height=size[0], width=size[1], interpolation="AREA" if downscale else "BILINEAR"
                )
            else:
                array = frame.to_ndarray(format="rgb24")
            frames.append(array)
            if num_frames is not None and len(frames) >= num_frames:
                break
    return frames


def probe_av(path: str | Path) -> dict:
    """``num_frames`` (from the container, or duration x rate), ``fps``, ``height``, ``width``."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        count = int(stream.frames or 0)
        if count <= 0:
            duration = stream.duration * stream.time_base if stream.duration else (container.duration or 0) / 1e6
            count = max(1, int(math.floor(float(duration) * fps + 0.5)))
        return {"num_frames": count, "fps": fps, "height": stream.codec_context.height, "width": stream.codec_context.width}
