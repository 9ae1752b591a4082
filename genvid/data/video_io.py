"""Reading and writing videos and still images.

Tensors are ``(channels, frames, height, width)`` float in [-1, 1]; arrays handed to codecs are
``(frames, height, width, 3)`` uint8. mp4/webm/avi/mov/mkv are decoded in process by PyAV
(genvid.data.av_decode: seek, decode only the span used, resize on the way) or, when PyAV is not
installed or ``GENVID_VIDEO_DECODER=ffmpeg``, by the ffmpeg binary that imageio-ffmpeg bundles;
writing always uses that binary. gif and still images go through Pillow.
Every failure to read a file is a :class:`genvid.errors.GenvidError` whose one line names the file.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from genvid.errors import GenvidError

FFMPEG_SUFFIXES = {".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v"}
GIF_SUFFIXES = {".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
VIDEO_SUFFIXES = FFMPEG_SUFFIXES | GIF_SUFFIXES
DECODERS = ("av", "ffmpeg")


def video_decoder() -> str:
    """``"av"`` (in process) unless PyAV is missing or ``GENVID_VIDEO_DECODER=ffmpeg`` asks for the binary."""
    chosen = os.environ.get("GENVID_VIDEO_DECODER", "").strip().lower()
    if chosen and chosen not in DECODERS:
        raise GenvidError(f"GENVID_VIDEO_DECODER must be one of {', '.join(DECODERS)}, got {chosen!r}")
    if chosen == "ffmpeg" or importlib.util.find_spec("av") is None:
        return "ffmpeg"
    return "av"


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----------------------------------------------------------------------------------------------
# conversions


def uint8_to_video(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(3, T, H, W)`` float in [-1, 1]."""
    # numpy, not torch: small element-wise torch ops pay thread-pool overhead that dominates a
    # data loader's time on a busy CPU (measured 0.2 ms vs 13-40 ms for a 17x64x64 clip).
    # Transposing the uint8 array first moves a quarter of the bytes.
    video = np.ascontiguousarray(np.asarray(frames).transpose(3, 0, 1, 2)).astype(np.float32)
    video /= 127.5
    video -= 1.0
    return torch.from_numpy(video)


def video_to_uint8(video) -> np.ndarray:
    """A video as ``(T, H, W, 3)`` uint8.

    Accepts ``(C, T, H, W)`` float in [-1, 1] (torch or numpy; 1 channel is repeated to 3) or an
    array that is already ``(T, H, W, 3)`` uint8.
    """
    if isinstance(video, np.ndarray) and video.dtype == np.uint8:
        if video.ndim != 4 or video.shape[-1] != 3:
            raise GenvidError(f"a uint8 video must be (frames, height, width, 3), got shape {tuple(video.shape)}")
        return video
    if isinstance(video, torch.Tensor):
        if video.dtype == torch.uint8:
            return video_to_uint8(video.cpu().numpy())
        video = video.detach().float().cpu().numpy()
    array = np.asarray(video, dtype=np.float32)
    if array.ndim == 5 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 4 or array.shape[0] not in (1, 3):
        hint = ""
        if array.ndim == 4 and array.shape[-1] == 3:
            hint = "; for (frames, height, width, 3) floats in [0, 1] (output_type='np') pass (frames * 255).round() as uint8"
        raise GenvidError(
            f"a float video must be (channels=3, frames, height, width) in [-1, 1], got shape {tuple(array.shape)}{hint}"
        )
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0)
    array = np.round((np.clip(array, -1, 1) + 1) * 127.5).astype(np.uint8)
    return np.ascontiguousarray(array.transpose(1, 2, 3, 0))


def resize_and_center_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize so the short side covers ``height x width``, then crop the centre.

    ``video`` is ``(C, T, H, W)`` (or ``(B, C, T, H, W)``) float; aspect ratio is kept, so nothing
    is stretched.
    """
    batched = video.ndim == 5
    if not batched:
        video = video.unsqueeze(0)
    batch, _, frames, in_height, in_width = video.shape
    if (in_height, in_width) != (height, width):
        scale = max(height / in_height, width / in_width)
        new_height = max(height, round(in_height * scale))
        new_width = max(width, round(in_width * scale))
        if (new_height, new_width) != (in_height, in_width):
            flat = rearrange(video, "b c t h w -> (b t) c h w")
            antialias = new_height < in_height or new_width < in_width
            flat = F.interpolate(flat, size=(new_height, new_width), mode="bilinear", align_corners=False, antialias=antialias)
            video = rearrange(flat, "(b t) c h w -> b c t h w", b=batch, t=frames)
        top = (video.shape[-2] - height) // 2
        left = (video.shape[-1] - width) // 2
        video = video[..., top : top + height, left : left + width]
    video = video.clamp(-1, 1)
    return video if batched else video[0]


# ----------------------------------------------------------------------------------------------
# reading


def _select(frames: list[np.ndarray], num_frames: int | None, frame_stride: int, start: int) -> list[np.ndarray]:
    selected = frames[start::frame_stride]
    return selected if num_frames is None else selected[:num_frames]


def _frames_needed(num_frames: int | None, frame_stride: int, start: int) -> int | None:
    return None if num_frames is None else start + (num_frames - 1) * frame_stride + 1


# Starting this many frames in, ask ffmpeg to seek instead of decoding and dropping every frame
# before the start (matters for long files; a short skip is cheaper without the extra probe).
SEEK_AFTER_FRAMES = 48


def _ffmpeg_reader(path: Path, input_params: list[str] | None = None):
    import imageio_ffmpeg

    return imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", input_params=input_params or [])


def _read_with_ffmpeg(path: Path, stop: int | None, skip: int = 0) -> list[np.ndarray]:
    """Frames ``[skip, stop)`` (all from ``skip`` on when ``stop`` is None)."""
    input_params = None
    if skip >= SEEK_AFTER_FRAMES:
        fps = probe_video(path)["fps"]
        if fps > 0:
            # Input seeking is frame-accurate when decoding: ffmpeg drops frames before the time,
            # so half a frame early lands on frame ``skip`` itself.
            input_params = ["-ss", f"{(skip - 0.5) / fps:.6f}"]
    reader = _ffmpeg_reader(path, input_params)
    frames = []
    to_drop = 0 if input_params else skip
    wanted = None if stop is None else stop - skip
    try:
        meta = next(reader)
        width, height = meta["size"]
        frame_bytes = width * height * 3
        for raw in reader:
            if len(raw) != frame_bytes:
                break
            if to_drop:
                to_drop -= 1
                continue
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
            if wanted is not None and len(frames) >= wanted:
                break
    finally:
        reader.close()
    return frames


def _read_with_pillow(path: Path, stop: int | None) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    frames = []
    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            frames.append(np.asarray(frame.convert("RGB")))
            if stop is not None and len(frames) >= stop:
                break
    return frames


def check_media_file(path: Path, kind: str) -> None:
    """One-line GenvidErrors for a ``kind`` ("video", "audio") file that is missing or empty,
    before a decoder gets to say it in many lines."""
    if not path.is_file():
        raise GenvidError(f"{kind} file not found: {path}")
    if path.stat().st_size == 0:
        raise GenvidError(f"cannot read {path}: the file is empty")


def read_frames(
    path: str | Path,
    num_frames: int | None = None,
    frame_stride: int = 1,
    start: int = 0,
    crop_to: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode frames ``start, start + stride, ...`` as ``(T, H, W, 3)`` uint8 (an image gives T=1).

    ``crop_to = (height, width)``: resize to cover that size (aspect kept) and crop the centre;
    the in-process decoder resizes each frame as it leaves the codec.
    """
    path = Path(path)
    if frame_stride < 1 or start < 0 or (num_frames is not None and num_frames < 1):
        raise GenvidError(
            f"cannot read {path}: need num_frames >= 1, frame_stride >= 1, start >= 0 "
            f"(got {num_frames}, {frame_stride}, {start})"
        )
    check_media_file(path, "video")
    suffix = path.suffix.lower()
    resized = False
    try:
        if suffix in IMAGE_SUFFIXES:
            frames = _read_with_pillow(path, stop=1)
        elif suffix in GIF_SUFFIXES:
            frames = _select(_read_with_pillow(path, _frames_needed(num_frames, frame_stride, start)), num_frames, frame_stride, start)
        elif video_decoder() == "av":
            from genvid.data.av_decode import read_frames_av

            frames = read_frames_av(path, num_frames, frame_stride, start, cover=crop_to)
            resized = crop_to is not None
        else:
            all_frames = _read_with_ffmpeg(path, _frames_needed(num_frames, frame_stride, start), skip=start)
            frames = _select(all_frames, num_frames, frame_stride, 0)
    except GenvidError:
        raise
    except Exception as error:  # codec errors are long multi-line dumps; one line is enough
        raise GenvidError(f"cannot read {path}: {_first_line(error)}") from None
    if not frames:
        raise GenvidError(f"cannot read {path}: no frames decoded (start={start}, frame_stride={frame_stride})")
    frames = np.stack(frames)
    if crop_to is not None:
        if resized:
            from genvid.data.av_decode import center_crop

            frames = np.ascontiguousarray(center_crop(frames, *crop_to))
        else:
            frames = video_to_uint8(resize_and_center_crop(uint8_to_video(frames), *crop_to))
    return frames


def read_video(
    path: str | Path,
    num_frames: int | None = None,
    frame_stride: int = 1,
    start: int = 0,
    crop_to: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Read a video or still image as ``(3, T, H, W)`` float in [-1, 1].

    ``num_frames`` caps the count (None = to the end); a short file gives fewer frames, never an
    error. A still image is one frame whatever ``num_frames`` says.
    """
    return uint8_to_video(read_frames(path, num_frames=num_frames, frame_stride=frame_stride, start=start, crop_to=crop_to))


def probe_video(path: str | Path) -> dict:
    """Cheap facts about a file without decoding it all: ``num_frames`` (an estimate for ffmpeg
    formats), ``fps``, ``height``, ``width``."""
    path = Path(path)
    check_media_file(path, "video")
    suffix = path.suffix.lower()
    try:
        if suffix in IMAGE_SUFFIXES or suffix in GIF_SUFFIXES:
            from PIL import Image

            with Image.open(path) as image:
                count = getattr(image, "n_frames", 1) if suffix in GIF_SUFFIXES else 1
                duration_ms = image.info.get("duration") or 125
                return {"num_frames": count, "fps": 1000.0 / duration_ms, "height": image.height, "width": image.width}
        if video_decoder() == "av":
            from genvid.data.av_decode import probe_av

            return probe_av(path)
        import imageio_ffmpeg

        reader = imageio_ffmpeg.read_frames(str(path))
        try:
            meta = next(reader)
        finally:
            reader.close()
        fps = float(meta.get("fps") or 0.0)
        duration = float(meta.get("duration") or 0.0)
        width, height = meta["size"]
        return {"num_frames": max(1, int(math.floor(fps * duration + 0.5))), "fps": fps, "height": height, "width": width}
    except GenvidError:
        raise
    except Exception as error:
        raise GenvidError(f"cannot read {path}: {_first_line(error)}") from None


# ----------------------------------------------------------------------------------------------
# writing


def _even_pad(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row / column (visible only as a 1-pixel edge)."""
    _, height, width, _ = frames.shape
    pad_height, pad_width = height % 2, width % 2
    if pad_height or pad_width:
        frames = np.pad(frames, ((0, 0), (0, pad_height), (0, pad_width), (0, 0)), mode="edge")
    return frames


def write_video(
    path: str | Path, video, fps: float = 8, quality: int = 18, audio=None, sample_rate: int = 16000
) -> Path:
    """Write ``video`` ((C,T,H,W) float [-1,1] or (T,H,W,3) uint8) as mp4 (libx264, yuv420p) or gif.

    Odd heights/widths are padded by one repeated edge pixel for mp4 (yuv420p needs even sizes);
    ``quality`` is the x264 CRF (lower = better; 18 is visually lossless). ``audio``: a mono
    waveform ``(samples,)`` in [-1, 1] at ``sample_rate``, muxed into the mp4 as AAC.
    """
    path = Path(path)
    frames = video_to_uint8(video)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if audio is not None and suffix != ".mp4":
        raise GenvidError(f"cannot write audio into {path}: only .mp4 carries a soundtrack")
    if suffix in GIF_SUFFIXES:
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        duration_ms = max(20, int(round(1000 / fps)))
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False)
        return path
    if suffix in IMAGE_SUFFIXES:
        if len(frames) != 1:
            raise GenvidError(f"cannot write {len(frames)} frames to the image {path}; use .mp4 or .gif")
        from PIL import Image

        Image.fromarray(frames[0]).save(path)
        return path
    if suffix != ".mp4":
        raise GenvidError(f"cannot write {path}: supported suffixes are .mp4, .gif and still images")
    frames = _even_pad(frames)
    if audio is not None:
        import tempfile

        from genvid.data.audio_io import write_audio

        with tempfile.TemporaryDirectory() as folder:
            audio_path = write_audio(Path(folder) / "audio.wav", audio, sample_rate)
            _encode_mp4(path, frames, fps, quality, audio_path=str(audio_path))
    else:
        _encode_mp4(path, frames, fps, quality)
    return path


def _encode_mp4(path: Path, frames: np.ndarray, fps: float, quality: int, audio_path: str | None = None) -> None:
    import imageio_ffmpeg

    _, height, width, _ = frames.shape
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=1,
        quality=None,  # the CRF below decides quality
        output_params=["-crf", str(quality), "-preset", "medium"],
        ffmpeg_log_level="error",
        audio_path=audio_path,
        audio_codec="aac" if audio_path else None,
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def _grid(rows: Sequence[np.ndarray], columns: int | None, padding: int) -> np.ndarray:
    """Tile ``rows`` (each (T, H, W, 3) uint8) into one image, one or more grid rows per video."""
    height, width = rows[0].shape[1:3]
    per_row = columns or max(len(row) for row in rows)
    lines = []
    for row in rows:
        for begin in range(0, len(row), per_row):
            lines.append(row[begin : begin + per_row])
    canvas = np.zeros(
        (len(lines) * (height + padding) + padding, per_row * (width + padding) + padding, 3), dtype=np.uint8
    )
    for line_index, line in enumerate(lines):
        for column, frame in enumerate(line):
            top = padding + line_index * (height + padding)
            left = padding + column * (width + padding)
            canvas[top : top + height, left : left + width] = frame
    return canvas


def write_contact_sheet(path: str | Path, video_or_list, columns: int | None = None, padding: int = 2) -> Path:
    """Write the frames of a video as a PNG grid.

    ``video_or_list``: one video ((C,T,H,W) float [-1,1], (B,C,T,H,W) float, or (T,H,W,3) uint8)
    or a list of videos of the same frame size, one grid row each (e.g. input | reconstruction).
    ``columns`` wraps long videos onto several grid rows; default: all frames on one row.
    """
    from PIL import Image

    if isinstance(video_or_list, torch.Tensor) and video_or_list.ndim == 5:
        videos = list(video_or_list)
    elif isinstance(video_or_list, (list, tuple)):
        videos = list(video_or_list)
    else:
        videos = [video_or_list]
    if not videos:
        raise GenvidError(f"cannot write the contact sheet {path}: no videos given")
    rows = [video_to_uint8(video) for video in videos]
    sizes = {row.shape[1:3] for row in rows}
    if len(sizes) != 1:
        raise GenvidError(f"cannot write the contact sheet {path}: videos differ in frame size {sorted(sizes)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_grid(rows, columns, padding)).save(path)
    return path
