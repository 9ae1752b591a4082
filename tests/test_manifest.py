"""Manifest: rows read on demand equal the parsed file; the sidecar index is kept, reused and rebuilt."""

import json
import os

import pytest

from genvid.data import manifest as manifest_module
from genvid.data.manifest import Manifest, sidecar_path
from genvid.errors import GenvidError


def _rows(count):
    return [{"video": f"clips/{index}.mp4", "caption": f"clip, number {index}", "num_frames": 10 + index, "height": 32,
             "width": 48, "fps": 8} for index in range(count)]


def test_jsonl_and_csv_rows_on_demand(tmp_path):
    rows = _rows(5)
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" + ("\n" if index == 2 else "") for index, row in enumerate(rows)))
    csv = tmp_path / "m.csv"
    csv.write_text("video,caption,num_frames\n" + "".join(f'{row["video"]},"{row["caption"]}",{row["num_frames"]}\n' for row in rows))
    for path in (jsonl, csv):
        manifest = Manifest(path)
        assert len(manifest) == 5
        assert manifest[3]["video"] == str(tmp_path / "clips" / "3.mp4") and manifest[3]["caption"] == "clip, number 3"
        assert manifest.facts["num_frames"].tolist() == [10, 11, 12, 13, 14]
    multi_line = tmp_path / "quoted.csv"
    multi_line.write_text('video,caption\na.mp4,"two\nlines"\nb.png,plain\n')
    manifest = Manifest(multi_line)
    assert [row["caption"] for row in manifest] == ["two\nlines", "plain"] and manifest.is_image.tolist() == [False, True]
    (tmp_path / "bad.jsonl").write_text('{"video": "a.mp4", "caption": "x"}\n{"video": "b.xyz", "caption": "y"}\n')
    with pytest.raises(GenvidError, match="unsupported file type"):
        Manifest(tmp_path / "bad.jsonl")


def test_sidecar_index_kept_reused_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_module, "SIDECAR_MIN_ROWS", 3)
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows(4)))
    Manifest(path)
    assert sidecar_path(path).is_file()
    monkeypatch.setattr(Manifest, "_build", lambda self: pytest.fail("rebuilt although the sidecar is current"))
    reopened = Manifest(path)
    assert reopened[2]["caption"] == "clip, number 2" and reopened.facts["num_frames"][3] == 13
    monkeypatch.undo()
    monkeypatch.setattr(manifest_module, "SIDECAR_MIN_ROWS", 3)
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows(6)))
    os.utime(path, ns=(1, 10**18))
    assert len(Manifest(path)) == 6  # stale sidecar: rebuilt
