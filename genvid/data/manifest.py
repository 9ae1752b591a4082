"""A manifest of any size, opened without holding its rows in memory.

One pass over the file validates every row and records, per row, where it starts in the file and
the facts bucketing needs (frames, height, width, fps, still image or not). Rows are parsed again
only when read (``os.pread`` at the recorded offset, safe in forked DataLoader workers). For big
manifests the pass is kept in a sidecar ``<manifest>.index.safetensors`` (rebuilt when the
manifest's size or modification time changes), so a million-row manifest opens in milliseconds
after the first time; probed facts (``probe_missing``) are kept there too.

Facts come from optional columns ``num_frames``, ``height``, ``width``, ``fps`` (write them and no
file is opened to bucket the set) or from probing the files; -1 means not known yet.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from genvid.errors import GenvidError

logger = logging.getLogger(__name__)

FACTS = ("num_frames", "height", "width", "fps")
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
#: manifests with at least this many rows keep their index in a sidecar file
SIDECAR_MIN_ROWS = 10_000
_BLOCK = 1 << 24


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".index.safetensors")


def _line_offsets(path: Path) -> np.ndarray:
    """Byte offset of every line start (plus the file size at the end), found in 16 MiB blocks."""
    starts = [np.zeros(1, dtype=np.int64)]
    size = path.stat().st_size
    with path.open("rb") as handle:
        position = 0
        while True:
            block = handle.read(_BLOCK)
            if not block:
                break
            newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10).astype(np.int64) + position + 1
            starts.append(newlines)
            position += len(block)
    offsets = np.concatenate(starts)
    if offsets[-1] != size:
        offsets = np.append(offsets, size)
    return offsets


def _number(value, kind=float) -> float:
    try:
        return kind(value) if value not in (None, "") else -1
    except (TypeError, ValueError):
        return -1


class Manifest:
    """Rows of a CSV / TSV / JSONL / JSON-list manifest, read on demand.

    ``manifest[i]`` is a dict with ``video`` (and ``audio``) made absolute and ``caption`` a string.
    Columns: ``num_frames``, ``height``, ``width``, ``fps`` (float arrays, -1 = unknown), ``is_image``.
    """

    def __init__(self, path: str | Path):
        from genvid.data.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

        self.path = Path(path)
        self._media_suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
        self._image_suffixes = IMAGE_SUFFIXES
        if not self.path.is_file():
            raise GenvidError(f"manifest not found: {self.path}")
        suffix = self.path.suffix.lower()
        if suffix not in SUFFIXES:
            raise GenvidError(f"manifest {self.path} must be .csv, .tsv, .jsonl or .json (a list of rows)")
        self.kind = suffix
        self._rows: list[dict] | None = None  # JSON lists and multi-line CSV stay in memory
        self._header: list[str] | None = None
        self._fd: int | None = None
        self._fd_pid: int | None = None
        if not self._load_sidecar():
            self._build()

    # ------------------------------------------------------------------ building
    def _stamp(self) -> str:
        stat = self.path.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    def _load_sidecar(self) -> bool:
        side = sidecar_path(self.path)
        if self.kind == ".json" or not side.is_file():
            return False
        from safetensors import safe_open

        try:
            with safe_open(str(side), "numpy") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("stamp") != self._stamp():
                    return False
                columns = {name: handle.get_tensor(name) for name in handle.keys()}
        except Exception:  # a stale or cut sidecar is rebuilt, never trusted
            return False
        self.offsets = columns["offsets"]
        self.facts = {name: columns[name] for name in FACTS}
        self.is_image = columns["is_image"].astype(bool)
        self._header = json.loads(metadata.get("header", "null"))
        return True

    def save_sidecar(self) -> Path | None:
        """Keep the index next to the manifest (skipped, with a log line, where it cannot be written)."""
        if self.kind == ".json" or self._rows is not None:
            return None
        from safetensors.numpy import save_file

        side = sidecar_path(self.path)
        columns = {"offsets": self.offsets, "is_image": self.is_image.astype(np.uint8), **self.facts}
        try:
            temporary = side.with_name(side.name + f".{os.getpid()}.tmp")
            save_file(columns, str(temporary), metadata={"stamp": self._stamp(), "header": json.dumps(self._header)})
            os.replace(temporary, side)
        except OSError as error:
            logger.info(f"manifest index not kept ({side}: {error.strerror})")
            return None
        return side

    def _build(self) -> None:
        try:
            if self.kind == ".json":
                self._build_from_rows(self._json_rows())
            elif self.kind == ".jsonl":
                self._build_lines()
            else:
                self._build_csv()
        except UnicodeDecodeError:
            raise GenvidError(f"manifest {self.path} is not UTF-8 text") from None
        if len(self) >= SIDECAR_MIN_ROWS:
            self.save_sidecar()

    def _json_rows(self) -> list:
        text = self.path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise GenvidError(f"{self.path}: not valid JSON ({error.msg}, line {error.lineno})") from None
        self.kind = ".jsonl"  # a .json file holding one object per line
        self._build_lines()
        return self._rows if self._rows is not None else None

    def _start_columns(self, count: int) -> None:
        self.facts = {name: np.full(count, -1, dtype=np.float32) for name in FACTS}
        self.is_image = np.zeros(count, dtype=bool)

    def _record(self, position: int, row, line_number: int) -> None:
        self._check(row, line_number)
        for name in FACTS:
            self.facts[name][position] = _number(row.get(name))
        self.is_image[position] = Path(str(row["video"])).suffix.lower() in self._image_suffixes

    def _build_from_rows(self, rows) -> None:
        if rows is None:  # became JSONL
            return
        self._rows = []
        self._start_columns(len(rows))
        for index, row in enumerate(rows):
            self._record(index, row, index + 1)
            self._rows.append(row)
        self.offsets = np.zeros(len(rows) + 1, dtype=np.int64)

    def _build_lines(self) -> None:
        offsets = _line_offsets(self.path)
        keep = np.zeros(len(offsets) - 1, dtype=bool)
        with self.path.open("rb") as handle:
            raw_lines = handle  # iterated line by line: the file is never held whole
            self._start_columns(len(keep))
            for line_index, line in enumerate(raw_lines):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise GenvidError(f"{self.path}, line {line_index + 1}: not valid JSON ({error.msg})") from None
                self._record(line_index, row, line_index + 1)
                keep[line_index] = True
        self._select_lines(offsets, keep)

    def _select_lines(self, offsets: np.ndarray, keep: np.ndarray) -> None:
        """Keep the offsets (start, and the next start as the end) of non-blank lines."""
        positions = np.flatnonzero(keep)
        self.offsets = np.stack([offsets[positions], offsets[positions + 1]], axis=1).astype(np.int64)
        self.facts = {name: column[positions] for name, column in self.facts.items()}
        self.is_image = self.is_image[positions]

    def _build_csv(self) -> None:
        delimiter = "\t" if self.kind == ".tsv" else ","
        offsets = _line_offsets(self.path)
        with self.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            self._header = next(reader, None) or []
            rows = []
            self._start_columns(max(0, len(offsets) - 2))
            for index, values in enumerate(reader):
                if not values:  # a blank line: keep the rows in memory rather than track it
                    rows = None
                    break
                row = dict(zip(self._header, values))
                if index < len(self.is_image):
                    self._record(index, row, index + 1)
                rows.append(None)
                if reader.line_num != index + 2:  # a quoted field spans lines: keep the rows in memory
                    rows = None
                    break
        if rows is None or len(rows) != len(offsets) - 2:
            with self.path.open(newline="", encoding="utf-8") as handle:
                parsed = [dict(row) for row in csv.DictReader(handle, delimiter=delimiter)]
            self._build_from_rows(parsed)
            return
        keep = np.zeros(len(offsets) - 1, dtype=bool)
        keep[1 : 1 + len(rows)] = True
        facts, images = self.facts, self.is_image
        self.facts = {name: np.concatenate([[-1], column, [-1]])[: len(keep)].astype(np.float32) for name, column in facts.items()}
        self.is_image = np.concatenate([[False], images, [False]])[: len(keep)]
        self._select_lines(offsets, keep)

    def _check(self, row, line_number: int) -> None:
        if not isinstance(row, dict) or not row.get("video"):
            raise GenvidError(f"manifest {self.path}: row {line_number} has no 'video' entry")
        if "caption" not in row:
            raise GenvidError(f"manifest {self.path}: row {line_number} has no 'caption' entry")
        if Path(str(row["video"])).suffix.lower() not in self._media_suffixes:
            raise GenvidError(f"manifest {self.path}: unsupported file type {row['video']}")

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.is_image)

    def _raw_row(self, index: int) -> dict:
        if self._rows is not None:
            return dict(self._rows[index])
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd, self._fd_pid = os.open(self.path, os.O_RDONLY), os.getpid()
        start, end = (int(value) for value in self.offsets[index])
        text = os.pread(self._fd, end - start, start).decode("utf-8")
        if self.kind == ".jsonl":
            return json.loads(text)
        delimiter = "\t" if self.kind == ".tsv" else ","
        values = next(csv.reader(io.StringIO(text), delimiter=delimiter))
        return dict(zip(self._header, values))

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} out of range for a manifest of {len(self)} rows")
        row = self._raw_row(int(index) % len(self))
        row["caption"] = "" if row.get("caption") is None else str(row["caption"])
        for key in ("video", "audio"):
            if row.get(key):
                file_path = Path(str(row[key])).expanduser()
                row[key] = str(file_path if file_path.is_absolute() else (self.path.parent / file_path))
        return row

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"] = state["_fd_pid"] = None  # a worker opens its own
        return state

    def probe_missing(self, indices=None, progress: bool = True) -> int:
        """Probe the files whose facts are unknown (all of ``indices``, default every row); an
        unreadable file keeps -1 (it is skipped later). Returns how many were probed."""
        from tqdm import tqdm

        from genvid.data.video_io import probe_video

        indices = np.arange(len(self)) if indices is None else np.asarray(indices)
        missing = [int(index) for index in indices if min(self.facts[name][index] for name in ("num_frames", "height", "width")) < 0]
        for index in tqdm(missing, desc="probing clips", disable=not progress or len(missing) < 100):
            try:
                facts = probe_video(self[index]["video"])
            except GenvidError as error:
                logger.warning(f"cannot probe {error}")
                continue
            for name in FACTS:
                self.facts[name][index] = facts[name]
        if missing and len(self) >= SIDECAR_MIN_ROWS:
            self.save_sidecar()
        return len(missing)
