"""``genvid dataset encode``: run the frozen tokenizer and text encoder over a manifest once and
keep what they compute (genvid.data.cache), so generator training never runs them again.

Work is cut into units (one bucket's samples, ``shard_size`` at a time, in manifest order);
process ``r`` of ``W`` (torchrun / accelerate launch) encodes units ``r, r + W, ...``, each into its
own shard, so processes never write the same file. A shard already on disk is skipped, which
makes a killed run resumable; the index is written once every unit has its shard.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from genvid.data.cache import (
    EMPTY_TEXT_NAME,
    FORMAT,
    INDEX_NAME,
    PLAN_NAME,
    SHARD_FOLDER,
    read_json,
    shard_name,
    text_encoder_fingerprint,
    tokenizer_fingerprint,
)
from genvid.errors import GenvidError

logger = logging.getLogger(__name__)
LATENT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _atomic_save(tensors: dict, path: Path, metadata: dict) -> None:
    from safetensors.torch import save_file

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({name: value.contiguous() for name, value in tensors.items()}, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def _atomic_json(value: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=1))
    os.replace(temporary, path)


def _distributed() -> tuple[int, int]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
    return int(os.environ.get("RANK", "0")), world_size


def _comparable(plan: dict, key: str):
    """What must not change between a run and its resumption (paths may: the same files from another folder)."""
    value = plan.get(key)
    if key == "manifest":
        return None
    if key == "tokenizer" and isinstance(value, dict):
        return value.get("fingerprint")
    return value


def _bucketed_folder(manifest: str, data: dict | None):
    from genvid.data.config import DataConfig, build_dataset
    from genvid.config import build_dataclass

    config = build_dataclass(DataConfig, dict(data or {}), "data")
    config = replace(config, source="folder", manifest=str(manifest))
    if not config.buckets:
        config = replace(config, buckets={"shapes": [[config.num_frames, config.height, config.width]]})
    return config, build_dataset(config)


class _UnitItems(torch.utils.data.Dataset):
    """``(index, bucket)`` -> the sample at its bucket's shape, or None when unreadable (left out)."""

    def __init__(self, bucketed):
        self.bucketed = bucketed

    def __len__(self):
        return len(self.bucketed)

    def __getitem__(self, key):
        index, bucket = key
        try:
            item = self.bucketed.source.load_at(index, *self.bucketed.buckets[bucket].shape)
        except GenvidError as error:
            logger.warning(f"skipping unreadable file: {error}")
            return {"index": index, "skipped": True}
        return {"index": index, "video": item["video"], "caption": item["caption"]}


def encode_dataset(
    manifest: str,
    out: str,
    tokenizer: str,
    text_encoder: str = "all-MiniLM-L6-v2",
    text_max_length: int = 32,
    data: dict | None = None,
    shard_size: int = 64,
    batch_size: int = 8,
    num_workers: int = 0,
    max_shards: int | None = None,
    latent_dtype: str = "float32",
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Encode ``manifest`` into the cache folder ``out``; returns a summary (``finished`` when the index is written)."""
    from tqdm import tqdm

    from genvid.models.sequence import pad_text
    from genvid.training.tasks.frozen_helpers import load_text_encoder, load_video_tokenizer

    if shard_size < 1 or batch_size < 1:
        raise GenvidError(f"--shard-size and --batch-size must be >= 1 (got {shard_size}, {batch_size})")
    if latent_dtype not in LATENT_DTYPES:
        raise GenvidError(f"--latent-dtype must be one of {', '.join(LATENT_DTYPES)}, got {latent_dtype!r}")
    rank, world_size = _distributed()
    out = Path(out)
    config, bucketed = _bucketed_folder(manifest, data)
    plan = _plan(manifest, config, bucketed, shard_size, latent_dtype, tokenizer, text_encoder, text_max_length)
    _start_cache(out, plan, rank, world_size)

    units = []  # (bucket, chunk, member indices)
    for bucket, members in enumerate(bucketed.members):
        for chunk, begin in enumerate(range(0, len(members), shard_size)):
            units.append((bucket, chunk, members[begin : begin + shard_size]))
    mine = [unit for position, unit in enumerate(units) if position % world_size == rank]
    todo = [unit for unit in mine if not (out / SHARD_FOLDER / shard_name(unit[0], unit[1])).is_file()]
    if max_shards is not None:
        todo = todo[: max(0, int(max_shards))]

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    video_tokenizer = load_video_tokenizer(tokenizer, None).to(device)
    encoder = load_text_encoder(text_encoder, text_max_length).to(device)
    dtype = LATENT_DTYPES[latent_dtype]

    def encode_text(captions):
        hidden, mask = encoder.encode(list(captions), device=device)
        hidden, mask = pad_text(hidden.float(), mask, text_max_length)
        return (hidden * mask[..., None]).cpu(), mask.to(torch.uint8).cpu()

    if rank == 0 and not (out / EMPTY_TEXT_NAME).is_file():
        states, mask = encode_text([""])
        _atomic_save({"text_states": states[0], "text_mask": mask[0]}, out / EMPTY_TEXT_NAME, {"format": FORMAT})

    batches = []
    for bucket, chunk, members in todo:
        for begin in range(0, len(members), batch_size):
            batches.append([(int(index), bucket) for index in members[begin : begin + batch_size]])
    loader = torch.utils.data.DataLoader(_UnitItems(bucketed), batch_sampler=batches, num_workers=num_workers, collate_fn=list)
    items = iter(loader)
    written = 0
    for bucket, chunk, members in tqdm(todo, desc=f"encoding shards (process {rank})", disable=not progress):
        unit_batches = (next(items) for _ in range(0, len(members), batch_size))  # loaded one at a time
        tensors, metadata = _encode_unit(unit_batches, video_tokenizer, encode_text, dtype, device)
        _atomic_save(tensors, out / SHARD_FOLDER / shard_name(bucket, chunk), {"bucket": str(bucket), **metadata})
        written += 1

    if world_size > 1:
        torch.distributed.barrier()
    summary = {"shards_written": written, "shards_total": len(units), "finished": False, "out": str(out)}
    if rank == 0:
        summary.update(_write_index(out, plan, units, bucketed, video_tokenizer, encoder))
    if world_size > 1:
        torch.distributed.barrier()
    return summary


def _plan(manifest, config, bucketed, shard_size, latent_dtype, tokenizer, text_encoder, text_max_length) -> dict:
    """What a cache is written with; a run that finds another plan in its folder stops."""
    return {
        "format": FORMAT,
        "manifest": str(Path(manifest).resolve()),
        "num_rows": len(bucketed),
        "buckets": [list(bucket.shape) for bucket in bucketed.buckets],
        "frame_stride": config.frame_stride,
        "random_start": config.random_start,
        "seed": config.seed,
        "shard_size": int(shard_size),
        "latent_dtype": latent_dtype,
        "tokenizer": {"path": str(tokenizer), "fingerprint": tokenizer_fingerprint(tokenizer)},
        "text_encoder": {
            "name": str(text_encoder), "max_length": int(text_max_length),
            "fingerprint": text_encoder_fingerprint(text_encoder, text_max_length),
        },
    }


def _start_cache(out: Path, plan: dict, rank: int, world_size: int) -> None:
    """The cache folder with its plan: a new one written, a started one checked against ``plan``."""
    (out / SHARD_FOLDER).mkdir(parents=True, exist_ok=True)
    if (out / PLAN_NAME).is_file():
        started = read_json(out, PLAN_NAME)
        changed = [key for key in plan if _comparable(started, key) != _comparable(plan, key)]
        if changed:
            raise GenvidError(
                f"{out} holds a cache started with other settings ({', '.join(changed)} differ): give another --out or delete it"
            )
    elif rank == 0:
        _atomic_json(plan, out / PLAN_NAME)
    if world_size == 1:  # (with several processes, another one's file may be in the making)
        for stale in (out / SHARD_FOLDER).glob(".*.tmp"):  # left by a run killed while writing
            stale.unlink(missing_ok=True)


def _encode_unit(batches, video_tokenizer, encode_text, dtype, device) -> tuple[dict, dict]:
    """One shard's tensors and metadata from its loaded batches (unreadable files listed as skipped)."""
    fields: dict[str, list] = {"latents": [], "token_ids": [], "text_states": [], "text_mask": []}
    rows, captions, skipped = [], [], []
    for batch in batches:
        skipped += [item["index"] for item in batch if item.get("skipped")]
        batch = [item for item in batch if not item.get("skipped")]
        if not batch:
            continue
        video = torch.stack([item["video"] for item in batch]).to(device, video_tokenizer.dtype)
        with torch.no_grad():
            latents = video_tokenizer.encode(video)
            fields["latents"].append(video_tokenizer.normalize_latents(latents).to(dtype).cpu())
            if video_tokenizer.is_discrete:
                fields["token_ids"].append(video_tokenizer.tokenize(video).to(torch.int32).cpu())
            states, mask = encode_text([item["caption"] for item in batch])
        fields["text_states"].append(states)
        fields["text_mask"].append(mask)
        rows += [item["index"] for item in batch]
        captions += [item["caption"] for item in batch]
    tensors = {name: torch.cat(values) for name, values in fields.items() if values}
    if not rows:  # every file of the unit unreadable: an empty shard still marks it done
        tensors = {}
    tensors["rows"] = torch.tensor(rows, dtype=torch.int64)
    return tensors, {"captions": json.dumps(captions), "skipped": json.dumps(skipped)}


def _write_index(out: Path, plan: dict, units, bucketed, video_tokenizer, encoder) -> dict:
    from safetensors import safe_open

    missing = [shard_name(bucket, chunk) for bucket, chunk, _ in units if not (out / SHARD_FOLDER / shard_name(bucket, chunk)).is_file()]
    if missing:
        return {"finished": False, "missing": len(missing)}
    shards, skipped, fields = [], 0, set()
    for bucket, chunk, _ in units:
        path = out / SHARD_FOLDER / shard_name(bucket, chunk)
        with safe_open(str(path), "pt") as handle:
            count = handle.get_slice("rows").get_shape()[0]
            skipped += len(json.loads(handle.metadata()["skipped"]))
            if count:
                fields |= set(handle.keys()) - {"rows"}
        shards.append({"name": path.name, "bucket": bucket, "count": int(count), "bytes": path.stat().st_size})
    shards = [shard for shard in shards if shard["count"]]
    index = dict(plan)
    index["tokenizer"] = dict(
        plan["tokenizer"], latent_channels=int(video_tokenizer.latent_channels), is_discrete=bool(video_tokenizer.is_discrete),
        codebook_size=int(video_tokenizer.codebook_size) if video_tokenizer.is_discrete else 0,
    )
    index["text_encoder"] = dict(plan["text_encoder"], hidden_size=int(encoder.hidden_size))
    index["latent_shapes"] = [list(video_tokenizer.latent_shape(*shape)) for shape in plan["buckets"]]
    index["fields"] = sorted(fields)
    index["shards"] = shards
    index["num_samples"] = int(sum(shard["count"] for shard in shards))
    index["num_skipped"] = int(skipped + bucketed.num_unfit)
    _atomic_json(index, out / INDEX_NAME)
    return {"finished": True, "num_samples": index["num_samples"], "num_skipped": index["num_skipped"]}
