"""Every training config under configs/ (but the accelerate ones) validates: each section against
what it mirrors, so a typo in a shipped recipe fails here and not an hour into a run."""

from pathlib import Path

import pytest

from genvid.config import ConfigError, load_config
from genvid.training.loop import build_task

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TRAINING_CONFIGS = sorted(path for path in CONFIGS.glob("*/*.yaml") if path.parent.name != "accelerate")


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_shipped_training_config_validates(path):
    task, data, training = build_task(load_config(path))
    assert training.max_steps > 0 and data.num_frames >= 1


def test_a_misspelt_option_is_a_config_error():
    with pytest.raises(ConfigError, match="initial_weight"):
        build_task(load_config(CONFIGS / "lm" / "demo_fresh.yaml", ["task_options.initial_weight=x"]))
