"""The HTML evaluation report, opened in a real headless Chromium (skipped where none is installed)."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from genvid.cli import main
from genvid.data.synthetic import HELDOUT_COMBINATIONS, render_clip
from tokenizer import VideoTokenizer

TINY = dict(base_channels=8, channel_multipliers=(1, 2, 2, 4), num_res_blocks=1, num_mid_blocks=1)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")


def chromium(page, profile, *arguments) -> str:
    """Run headless Chromium on a local page, offline and with a fresh profile; its stdout."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--virtual-time-budget=5000", *arguments, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def images_loaded(dom: str) -> tuple[int, int]:
    match = re.search(r'<body[^>]*data-images="(\d+)/(\d+)"', dom)
    assert match, "the page's image count did not run"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def tokenizer_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    torch.manual_seed(0)
    VideoTokenizer(bottleneck="fsq", fsq_levels=(5, 5, 5), **TINY).save_pretrained(root / "fsq")
    assert main(["eval", "tokenizer", "--heldout", "synthetic", "--tokenizer", str(root / "fsq"), "--max-clips", "3",
                 "--num-frames", "5", "--height", "32", "--width", "32", "--report", str(root / "tokenizer")]) == 0
    return root / "tokenizer" / "index.html"


def test_tokenizer_report_has_sheets_and_charts(tokenizer_report):
    text = tokenizer_report.read_text()
    assert text.count("<img") == 3 and text.count("<svg") == 2  # one sheet per clip; PSNR and SSIM charts
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    for source in re.findall(r'src="([^"]+)"', text):
        assert (tokenizer_report.parent / source).is_file()


@needs_chromium
def test_tokenizer_report_renders_in_chromium(tokenizer_report, tmp_path):
    assert images_loaded(chromium(tokenizer_report, tmp_path / "profile", "--dump-dom")) == (3, 3)
    screenshot = tmp_path / "page.png"
    chromium(tokenizer_report, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1000,1400")
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert("RGB"))
    assert pixels.shape[:2] == (1400, 1000)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, bars and pictures, not a blank page
    # The count is a real check: a missing picture shows up in it.
    first = re.search(r'src="([^"]+)"', tokenizer_report.read_text()).group(1)
    (tokenizer_report.parent / first).unlink()
    assert images_loaded(chromium(tokenizer_report, tmp_path / "profile2", "--dump-dom")) == (2, 3)


@needs_chromium
def test_generator_report_renders_its_animated_grid_in_chromium(tmp_path):
    from genvid.commands.eval.prompts import write_report

    labels = list(HELDOUT_COMBINATIONS[:4])
    clips = [render_clip(*label, num_frames=5, height=32, width=32, seed=index) for index, label in enumerate(labels)]
    reading = {"num_clips": 4, "color_accuracy": 1.0, "shape_accuracy": 0.75, "motion_accuracy": 1.0,
               "all_accuracy": 0.75, "clipsim": 0.31}
    page = write_report(tmp_path / "generator.html", {"diffusion": {"heldout": reading}},
                        {"diffusion": {"heldout": (labels, clips)}})
    text = page.read_text()
    assert "clipsim" in text and "75.0%" in text and text.count(".gif") == 4
    assert images_loaded(chromium(page, tmp_path / "profile", "--dump-dom")) == (4, 4)
