"""Configs as presets plus overrides: resolution by name from any folder, ``base:`` chains (a key
replaces its base's whole), ``genvid configs`` listing and copying out without overwriting."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genvid.cli import main
from genvid.config import ConfigError, load_config, shipped_config_names, shipped_configs_root

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def as_dict(config):
    return OmegaConf.to_container(config, resolve=True)


def test_a_shipped_name_resolves_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shipped_configs_root().resolve() == CONFIGS
    by_name = load_config("dit/tiny", ["training.max_steps=2"])
    assert as_dict(by_name) == as_dict(load_config(CONFIGS / "dit" / "tiny.yaml", ["training.max_steps=2"]))
    assert as_dict(load_config("dit/tiny.yaml")) == as_dict(load_config("dit/tiny"))
    assert "base" not in by_name and by_name.training.max_steps == 2
    with pytest.raises(ConfigError, match="genvid configs"):
        load_config("dit/tinny")


def test_a_child_replaces_its_bases_keys_whole():
    fresh, first, tiny = (as_dict(load_config(name)) for name in ("lm/demo_fresh", "lm/demo", "lm/tiny"))
    # three levels: demo_fresh -> demo -> tiny -> base
    assert fresh["data"]["seed"] == 1 and fresh["model"]["hidden_size"] == first["model"]["hidden_size"] == 192
    assert fresh["model"]["num_kv_heads"] == tiny["model"]["num_kv_heads"] == 2
    # a mapping is a value: the demo mixture is not merged into the presets' six tasks
    assert set(first["task_options"]["task_weights"]) == {"t2v", "i2v", "continue"}
    assert len(tiny["task_options"]["task_weights"]) == 6


def test_a_users_file_names_a_shipped_or_a_relative_base(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: dit/tiny\ntraining:\n  max_steps: 7\n")
    (tmp_path / "child.yaml").write_text("base: mine.yaml\nmodel:\n  num_layers: 2\n")
    child = load_config(tmp_path / "child.yaml")
    assert child.training.max_steps == 7 and child.model.num_layers == 2
    assert child.model.hidden_size == load_config("dit/tiny").model.hidden_size
    (tmp_path / "loop_a.yaml").write_text("base: loop_b.yaml\n")
    (tmp_path / "loop_b.yaml").write_text("base: loop_a.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "loop_a.yaml")
    (tmp_path / "orphan.yaml").write_text("base: dit/nothing\n")
    with pytest.raises(ConfigError, match="base config 'dit/nothing' not found"):
        load_config(tmp_path / "orphan.yaml")


def test_genvid_configs_lists_every_shipped_training_config(capsys):
    assert main(["configs"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    listed = {row[0]: row[1] for row in rows if "/" in row[0]}
    on_disk = sorted(str(path.relative_to(CONFIGS).with_suffix("")) for path in CONFIGS.glob("*/*.yaml")
                     if path.parent.name != "accelerate")
    assert sorted(listed) == on_disk == shipped_config_names()
    assert listed["dit/tiny"] == "dit" and listed["tokenizer/tiny_fsq"] == "tokenizer"


def test_copy_writes_a_file_that_trains_the_same_and_never_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["configs", "copy", "lm/demo"]) == 0
    copied = tmp_path / "lm_demo.yaml"
    assert copied.read_text() == (CONFIGS / "lm" / "demo.yaml").read_text()  # comments and base kept
    assert as_dict(load_config(copied)) == as_dict(load_config("lm/demo"))
    copied.write_text(copied.read_text() + "# my edit\n")
    capsys.readouterr()
    assert main(["configs", "copy", "lm/demo"]) == 2
    assert "exists" in capsys.readouterr().err and copied.read_text().endswith("# my edit\n")
    assert main(["configs", "copy", "lm/demo", str(copied), "--force", "--resolved"]) == 0
    flat = OmegaConf.load(copied)
    assert "base" not in flat and as_dict(flat) == as_dict(load_config("lm/demo"))
