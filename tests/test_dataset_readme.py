"""The README's worked example of preparing a real dataset runs as written: a folder of varied
clips -> index -> buckets + cache -> a DiT trained from the cache."""

import json
import re
import shlex
from pathlib import Path

import torch

from genvid.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def example_commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Preparing a real dataset"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_worked_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        commands = example_commands()
        assert [command[:3] for command in commands] == [
            ["genvid", "dataset", "synth"], ["genvid", "dataset", "index"], ["genvid", "dataset", "encode"], ["genvid", "train", "dit/tiny"]
        ]
        for command in commands:
            assert main(command[1:]) == 0, command
    finally:
        torch.set_num_threads(threads)
    index = json.loads((tmp_path / "my_cache" / "index.json").read_text())
    assert index["num_samples"] >= 5 and len({shard["bucket"] for shard in index["shards"]}) >= 3  # images and clips
    metrics = [json.loads(line) for line in (tmp_path / "runs" / "dit_from_cache" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 4 and all(record["loss"] > 0 for record in metrics)
    assert (tmp_path / "runs" / "dit_from_cache" / "final" / "model_index.json").is_file()
