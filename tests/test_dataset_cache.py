"""genvid dataset encode and data.source=cache: what is stored, resume after a stop or a kill
(no shard twice, none missing), fingerprints, corrupt shards named."""

import json

import pytest
import torch
from safetensors.torch import load_file

from genvid.cli import main
from genvid.data import build_dataset, collate_videos, write_video
from genvid.data.cache import CacheDataset, check_cache_matches, read_index
from genvid.data.synthetic import render_clip
from genvid.errors import GenvidError
from genvid.training.data import stream_loader
from genvid.training.encode_dataset import encode_dataset

TOKENIZER = dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1, num_mid_blocks=1)
BUCKETS = {"shapes": [[1, 16, 16], [5, 16, 32], [9, 16, 16]]}


def write_folder(root, count=8, broken=True):
    """Clips over three buckets (wide 6-frame, square 10-frame, images) and one corrupt file."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        kind = index % 3
        if kind == 2:
            name = f"image{index}.png"
            write_video(root / name, render_clip("green", "square", "up", 1, 20, 20, seed=index))
        else:
            name = f"clip{index}.mp4"
            frames, height, width = ((6, 18, 36), (10, 24, 24))[kind]
            write_video(root / name, render_clip("red", "circle", ("left", "down")[kind], frames, height, width, seed=index))
        rows.append({"video": name, "caption": f"sample {index} " + ("wide", "square", "image")[kind]})
    if broken:
        (root / "broken.mp4").write_bytes(b"garbage" * 30)
        rows.append({"video": "broken.mp4", "caption": "broken", "num_frames": 10, "height": 24, "width": 24, "fps": 8})
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root / "manifest.jsonl"


def save_tokenizer(path, **extra):
    from tokenizer import VideoTokenizer

    torch.manual_seed(0)
    VideoTokenizer(**TOKENIZER, **extra).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    manifest = write_folder(root / "clips")
    tokenizer = save_tokenizer(root / "tokenizer")
    summary = encode_dataset(str(manifest), str(root / "cache"), tokenizer, data={"buckets": BUCKETS}, shard_size=2,
                             batch_size=2, progress=False)
    return {"root": root, "manifest": manifest, "tokenizer": tokenizer, "cache": root / "cache", "summary": summary}


def test_cache_holds_latents_and_text_per_bucket(prepared):
    summary, cache = prepared["summary"], prepared["cache"]
    assert summary["finished"] and summary["num_samples"] == 8 and summary["num_skipped"] == 1
    index = read_index(cache)
    assert [shard["bucket"] for shard in index["shards"]] == [0, 1, 1, 2, 2]  # bucket order, 2 a shard
    dataset = build_dataset({"source": "cache", "cache": str(cache)})
    assert dataset.counts.tolist() == [2, 3, 3]
    raw = build_dataset({"source": "folder", "manifest": str(prepared["manifest"]), "buckets": BUCKETS})
    assert raw.counts.tolist() == [2, 3, 4]  # the broken clip is bucketed by its columns, then left out when read
    item = dataset[(0, 1)]
    assert item["latents"].shape == (4, 2, 4, 8) and item["text_states"].shape == (32, 384)
    assert item["text_mask"].dtype == torch.bool and not item["text_states"][~item["text_mask"]].any()
    # the stored latents are the frozen tokenizer's of the same decoded clip
    from tokenizer import VideoTokenizer

    tokenizer = VideoTokenizer.from_pretrained(prepared["tokenizer"]).eval()
    sample = raw.source.load_at(0, *raw.buckets[1].shape)
    with torch.no_grad():
        expected = tokenizer.normalize_latents(tokenizer.encode(sample["video"][None]))[0]
    assert item["caption"] == sample["caption"]
    torch.testing.assert_close(item["latents"], expected, atol=1e-5, rtol=1e-4)
    loader = iter(stream_loader(dataset, collate_videos, 2, 0, 0, 1, 0, 0))
    in_workers = iter(stream_loader(dataset, collate_videos, 2, 0, 0, 1, 0, num_workers=2))  # shard handles per process
    for _ in range(4):
        batch, other = next(loader), next(in_workers)
        assert batch["latents"].ndim == 5 and len(set(batch["bucket"])) == 1
        assert torch.equal(batch["latents"], other["latents"]) and batch["caption"] == other["caption"]


def test_tokenizer_mismatch_and_corrupt_shard_are_one_line_errors(prepared, tmp_path):
    index, cache = read_index(prepared["cache"]), prepared["cache"]
    check_cache_matches(index, cache, prepared["tokenizer"], None, "all-MiniLM-L6-v2", 32)
    other = save_tokenizer(tmp_path / "other", latent_std=[2.0] * 4)
    with pytest.raises(GenvidError, match="made with another tokenizer") as error:
        check_cache_matches(index, cache, other, None, "all-MiniLM-L6-v2", 32)
    assert "\n" not in str(error.value)
    with pytest.raises(GenvidError, match="another text encoder"):
        check_cache_matches(index, cache, prepared["tokenizer"], None, "all-MiniLM-L6-v2", 16)
    import shutil

    broken = tmp_path / "broken_cache"
    shutil.copytree(cache, broken)
    shard = broken / "shards" / index["shards"][3]["name"]
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(GenvidError, match=f"cache shard .*{shard.name} is corrupt"):
        CacheDataset(broken)


def test_stopped_and_killed_encode_resumes_without_a_shard_twice_or_missing(prepared, tmp_path, capsys):
    out = tmp_path / "resumed"
    config = tmp_path / "buckets.yaml"
    config.write_text(json.dumps({"data": {"buckets": BUCKETS}}))
    arguments = ["dataset", "encode", str(prepared["manifest"]), "--tokenizer", prepared["tokenizer"], "--out", str(out),
                 "--config", str(config), "--shard-size", "2", "--batch-size", "2"]
    assert main(arguments + ["--max-shards", "3"]) == 0
    assert "2 of 5 shards still to write" in capsys.readouterr().out
    first = {path.name: path.stat().st_mtime_ns for path in (out / "shards").glob("*.safetensors")}
    assert len(first) == 3 and not (out / "index.json").exists()
    # a kill while writing leaves only a temporary file: atomic renames never leave half a shard
    (out / "shards" / ".b002-00000.safetensors.999.tmp").write_bytes(b"half a shard")
    assert main(arguments) == 0
    names = sorted(path.name for path in (out / "shards").iterdir())
    assert len(names) == 5 and not any(name.endswith(".tmp") for name in names)
    assert all((out / "shards" / name).stat().st_mtime_ns == stamp for name, stamp in first.items())  # not rewritten
    resumed, whole = CacheDataset(out), CacheDataset(prepared["cache"])
    rows = [int(row) for shard in resumed.shard_paths for row in load_file(str(shard))["rows"]]
    assert sorted(rows) == sorted(set(rows)) and len(rows) == 8  # every readable sample once
    for position in range(len(whole)):
        shape = resumed.index["buckets"][int(whole.bucket_of[position])]
        torch.testing.assert_close(resumed.load_at(position, *shape)["latents"], whole.load_at(position, *shape)["latents"])
    config.write_text(json.dumps({"data": {"buckets": BUCKETS, "frame_stride": 2}}))
    assert main(arguments) == 2  # another stride into the same folder: refused
    assert "started with other settings (frame_stride differ)" in capsys.readouterr().err
