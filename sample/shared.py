"""What the two sampling examples share: their common options, the prompts file and the outputs.

Each example imports it as a sibling (``python sample/generate_ar.py`` puts ``sample/`` on the path).
"""

import argparse
from pathlib import Path

from genvid.data import write_contact_sheet, write_video
from genvid.pipelines.common import frames_to_video


def argument_parser(description: str, output_dir: str, guidance: float) -> argparse.ArgumentParser:
    """The options both examples take; each adds its own."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default=str(Path(__file__).with_name("prompts.txt")))
    parser.add_argument("--pipeline", default=None, help="a saved pipeline folder (default: the shipped demo)")
    parser.add_argument("--image", default=None, help="first frame (image-to-video)")
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument("--guidance", type=float, default=guidance)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def read_prompts(path: str) -> list[str]:
    """One prompt per non-empty line."""
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_outputs(frames, output_dir: str) -> None:
    """A pipeline's "pt" frames as one mp4 per video plus a contact sheet of them all."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    videos = list(frames_to_video(frames))
    for index, video in enumerate(videos):
        write_video(output / f"{index:02d}.mp4", video)
    write_contact_sheet(output / "sheet.png", videos)
    print(f"wrote {len(videos)} videos and sheet.png to {output}")
