"""Wrong inputs to every CLI subcommand: exit code 2, one stderr line naming the problem, no traceback,
and no network access attempted.

Rows run in-process (``genvid.cli.main``) with sockets blocked; a few run as subprocesses to see
what a user's terminal shows. Placeholders in a row's argv (``{clip}``, ``{text}``, ...) are files of
the kind named, made once per module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "genvid" / "demo"
PRETRAINED = ROOT / "genvid" / "pretrained"
TINY_DIT = str(ROOT / "configs" / "dit" / "tiny.yaml")
TINY_TOKENIZER = str(ROOT / "configs" / "tokenizer" / "tiny_gaussian.yaml")
HUGE = ["--num-frames", "100001", "--height", "4096", "--width", "4096"]

# (argv, words the one line must contain)
ROWS = [
    # the command itself
    (["bogus"], "invalid choice"),
    (["generate", "p"], "--output"),
    (["generate", "p", "-o", "{out}", "--bogus"], "unrecognized arguments: --bogus"),
    # generate: outputs and prompts
    (["generate", "p", "-o", "{work}/x.txt"], "--output must end in"),
    (["generate", "", "-o", "{out}"], "give a prompt"),
    (["generate", "p", "-o", "{clip}"], "exists; pass --overwrite"),
    (["generate", "p", "-o", "{work}/v.wav", "--task", "v2a"], "needs --video"),
    # generate: files of the wrong kind
    (["generate", "p", "-o", "{out}", "--image", "{text}"], "not a readable image"),
    (["generate", "p", "-o", "{out}", "--image", "{clip}"], "looks like a video"),
    (["generate", "p", "-o", "{out}", "--image", "{work}/missing.png"], "file not found"),
    (["generate", "p", "-o", "{out}", "--image", "{empty_png}"], "empty"),
    (["generate", "p", "-o", "{out}", "--image", "{work}"], "is a folder"),
    (["generate", "p", "-o", "{out}", "--audio", "{work}/missing.wav"], "file not found"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "continue", "--video", "{corrupt}"], "cannot read"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "inpaint", "--video", "{clip}", "--mask", "{text}"], "--mask"),
    # generate: pipeline folders
    (["generate", "p", "-o", "{out}", "--pipeline", "/nonexistent"], "no such folder"),
    (["generate", "p", "-o", "{out}", "--pipeline", "someone/some-pipeline"], "not a local folder"),
    (["generate", "p", "-o", "{out}", "--pipeline", str(PRETRAINED / "tokenizer_fsq")], "holds a VideoTokenizer, not a pipeline"),
    (["generate", "p", "-o", "{out}", "--pipeline", "{work}"], "no model_index.json"),
    (["generate", "p", "-o", "{out}", "--pipeline", "{bad_index}"], "cannot read"),
    (["generate", "p", "-o", "{out}", "--pipeline", "{other_pipeline}"], "holds a StableDiffusionPipeline"),
    (["generate", "p", "-o", "{out}", "--pipeline", "{text}"], "is a file"),
    (["generate", "p", "-o", "{out}", "--pipeline", str(DEMO / "ar"), "--model", "diffusion"], "ar kind of pipeline"),
    (["generate", "p", "-o", "{out}", "--pipeline", str(DEMO / "diffusion"), "--model", "ar"], "diffusion kind of pipeline"),
    # generate: tasks and the inputs they take
    (["generate", "p", "-o", "{out}", "--task", "t2v", "--video", "{clip}"], "--task t2v takes only the prompt"),
    (["generate", "p", "-o", "{out}", "--strength", "0.5"], "need --video"),
    (["generate", "p", "-o", "{out}", "--keyframe", "{clip}"], "PATH@INDEX"),
    (["generate", "p", "-o", "{out}", "--keyframe", "{clip}@3"], "looks like a video"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--strength", "0.5"], "are for --model diffusion"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--keyframe", "{clip}@0", "--video", "{clip}"], "ar --keyframe takes no"),
    (["generate", "p", "-o", "{out}", "--pipeline", str(DEMO / "diffusion"), "--task", "continue", "--video", "{clip}"], "are for --model ar"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "continue"], "needs --video"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "inpaint", "--video", "{clip}"], "needs --mask"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "continue", "--video", "{clip}", "--num-frames", "9"], "pass --num-frames 13 or more"),
    (["generate", "p", "-o", "{out}", "--task", "bogus"], "unknown task 'bogus'"),
    # generate: numbers
    (["generate", "p", "-o", "{out}", "--steps", "abc"], "invalid int value"),
    (["generate", "p", "-o", "{out}", "--steps", "0"], "--steps must be >= 1"),
    (["generate", "p", "-o", "{out}", "--steps", "100000000"], "--steps must be <= 10000"),
    (["generate", "p", "-o", "{out}", "--guidance", "nan"], "--guidance must be a finite number"),
    (["generate", "p", "-o", "{out}", "--guidance", "inf"], "--guidance must be a finite number"),
    (["generate", "p", "-o", "{out}", "--guidance", "-1"], "--guidance must be >= 0"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--temperature", "-0.5"], "--temperature must be >= 0"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--temperature", "nan"], "--temperature must be a finite number"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--top-p", "0"], "--top-p must be > 0"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--top-p", "1.5"], "--top-p must be <= 1"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--top-k", "0"], "--top-k must be >= 1"),
    (["generate", "p", "-o", "{out}", "--seed", "-1"], "--seed must be >= 0"),
    (["generate", "p", "-o", "{out}", "--seed", str(2**64)], "--seed must be <="),
    (["generate", "p", "-o", "{out}", "--num-frames", "0"], "--num-frames must be >= 1"),
    (["generate", "p", "-o", "{out}", "--num-frames", "18"], "1 + 4k frames"),
    (["generate", "p", "-o", "{out}", "--height", "30"], "multiples of 16"),
    (["generate", "p", "-o", "{out}", "--width", "-64"], "--width must be >= 1"),
    (["generate", "p", "-o", "{out}", "--fps", "0"], "--fps must be > 0"),
    (["generate", "p", "-o", "{out}", *HUGE], "of memory (estimated)"),
    (["generate", "p", "-o", "{out}", "--model", "ar", *HUGE], "of memory (estimated)"),
    # generate: devices
    (["generate", "p", "-o", "{out}", "--device", "cuda"], "--device cuda"),
    (["generate", "p", "-o", "{out}", "--device", "cuda:7"], "--device cuda:7"),
    (["generate", "p", "-o", "{out}", "--device", "bogus"], "not a device name"),
    (["generate", "p", "-o", "{out}", "--device", "mps"], "--device mps"),
    # encode
    (["encode", "{work}/missing.mp4", "-o", "{codes_out}"], "not found"),
    (["encode", "{text}", "-o", "{codes_out}"], "cannot read"),
    (["encode", "{empty_mp4}", "-o", "{codes_out}"], "empty"),
    (["encode", "{corrupt}", "-o", "{codes_out}"], "cannot read"),
    (["encode", "{clip}", "-o", "{codes_out}", "--tokenizer", "/nonexistent"], "no tokenizer at"),
    (["encode", "{clip}", "-o", "{codes_out}", "--tokenizer", "someone/some-tokenizer"], "not a local folder"),
    (["encode", "{clip}", "-o", "{codes_out}", "--tokenizer", str(DEMO / "diffusion")], "its tokenizer is"),
    (["encode", "{clip}", "-o", "{codes_out}", "--tokenizer", "{work}"], "no tokenizer at"),
    (["encode", "{clip}", "-o", "{codes_out}", "--tokenizer", str(PRETRAINED / "tokenizer_fsq"), "--pretrained", "fsq"], "not both"),
    (["encode", "{clip}", "-o", "{codes_out}", "--pretrained", "bogus"], "invalid choice"),
    (["encode", "{clip}", "-o", "{codes_out}", "--num-frames", "0"], "--num-frames must be >= 1"),
    (["encode", "{clip}", "-o", "{codes_out}", "--frame-stride", "0"], "--frame-stride must be >= 1"),
    (["encode", "{clip}", "-o", "{codes_out}", "--height", "-8"], "--height must be >= 1"),
    (["encode", "{clip}", "-o", "{codes_out}", "--chunk-size", "abc"], "invalid int value"),
    (["encode", "{clip}", "-o", "{codes_out}", "--height", "100000", "--width", "100000"], "of memory (estimated)"),
    (["encode", "{clip}", "-o", "{codes_out}", "--device", "cuda"], "--device cuda"),
    # decode
    (["decode", "{work}/missing.safetensors", "-o", "{out}"], "file not found"),
    (["decode", "{text}", "-o", "{out}"], "cannot read"),
    (["decode", "{empty_codes}", "-o", "{out}"], "empty"),
    (["decode", "{plain_codes}", "-o", "{out}"], "not written by 'genvid encode'"),
    (["decode", "{plain_codes}", "-o", "{work}/x.txt"], "--output must end in"),
    (["decode", "{plain_codes}", "-o", "{out}", "--fps", "0"], "--fps must be > 0"),
    (["decode", "{plain_codes}", "-o", "{out}", "--chunk-size", "0"], "--chunk-size must be >= 1"),
    (["decode", "{codes}", "-o", "{out}", "--tokenizer", "/nonexistent"], "no tokenizer at"),
    (["decode", "{codes}", "-o", "{out}", "--device", "cuda"], "--device cuda"),
    # train: config files and values
    (["train", "{work}/missing.yaml"], "config file not found"),
    (["train", "{bad_yaml}"], "cannot parse"),
    (["train", "{text}"], "unknown config section 'not a picture'"),
    (["train", "{unknown_section}"], "unknown config section"),
    (["train", TINY_DIT, "training.max_steps=abc"], "training.max_steps='abc' must be an integer"),
    (["train", TINY_DIT, "training.max_steps=-1"], "training.max_steps must be >= 1"),
    (["train", TINY_DIT, "training.learning_rate=fast"], "training.learning_rate='fast' must be a number"),
    (["train", TINY_DIT, "training.mixed_precision=no"], "quote it"),
    (["train", TINY_DIT, "training.ema_decay=2"], "training.ema_decay must be in [0, 1)"),
    (["train", TINY_DIT, "training.max_stepz=2"], "training.max_stepz"),
    (["train", TINY_DIT, "model.num_layers=abc"], "model.num_layers='abc' must be an integer"),
    (["train", TINY_DIT, "data.height=abc"], "data.height='abc' must be an integer"),
    (["train", TINY_DIT, "data.random_start=3"], "data.random_start=3 must be true or false"),
    (["train", TINY_DIT, "data.height=0"], "data: num_frames, height and width must each be >= 1"),
    (["train", TINY_DIT, "training.eval.num_frames=0"], "training.eval: num_frames, height and width must each be >= 1"),
    (["train", TINY_DIT, "task_options.tokenizer=/nonexistent"], "/nonexistent"),
    (["train", TINY_DIT, "task_options.tokenizer=someone/some-tokenizer"], "someone/some-tokenizer"),
    (["train", TINY_DIT, "oops"], "not of the form key=value"),
    (["train", TINY_TOKENIZER, "data.source=folder", "data.manifest={work}/missing.jsonl"], "missing.jsonl"),
    (["train", TINY_TOKENIZER, "--resume", "{work}/nothing_here", "training.max_steps=2"], "not a complete checkpoint"),
    (["train", TINY_TOKENIZER, "--resume", "auto", "--bogus"], "unrecognized arguments: --bogus"),
    # export
    (["export", "{work}/missing", "-o", "{work}/exported"], "{work}/missing"),
    (["export", "{text}", "-o", "{work}/exported"], "{text}"),
    (["export", "{empty_dir}", "-o", "{work}/exported"], "{empty_dir}"),
    # dataset
    (["dataset", "synth", "--out", "{work}/set", "--num", "0"], "--num must be >= 1"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "abc"], "invalid int value"),
    (["dataset", "check", "{work}/missing.jsonl"], "missing.jsonl"),
    (["dataset", "sheet", "{text}", "--out", "{work}/sheet.png"], "cannot read"),
    (["dataset", "sheet", "{work}/missing.mp4", "--out", "{work}/sheet.png"], "not found"),
    # eval
    (["eval", "tokenizer"], "no videos to evaluate"),
    (["eval", "tokenizer", "{clip}", "--tokenizer", "someone/some-tokenizer"], "not a local folder"),
    (["eval", "tokenizer", "{clip}", "--device", "cuda"], "--device cuda"),
    (["eval", "prompts", "--model", "ar", "--pipeline", "someone/some-pipeline"], "not a local folder"),
    (["eval", "edit", "--model", "diffusion", "--tasks", "inpaint"], "takes keyframes only"),
    (["eval", "long", "--model", "ar", "--num-frames", "20"], "--num-frames must be 1 + 16k"),
    (["eval", "prompts", "--model", "ar", "--pipeline", str(PRETRAINED / "tokenizer_fsq")], "not a pipeline"),
    (["eval", "tokenizer", "{work}/missing.mp4"], "no such file or folder"),
    (["eval", "tokenizer", "{text}"], "cannot read"),
    (["eval", "tokenizer", "{corrupt}"], "cannot read"),
    (["eval", "tokenizer", "{empty_dir}"], "no videos in the folder"),
    (["eval", "tokenizer", "{bad_manifest}"], "not valid JSON"),
    (["eval", "tokenizer", "{clip}", "--heldout", "real"], "not both"),
    (["eval", "tokenizer", "{clip}", "--num-frames", "0"], "--num-frames must be >= 1"),
    (["eval", "tokenizer", "{clip}", "--height", "-1"], "--height must be >= 1"),
    (["eval", "tokenizer", "{clip}", "--height", "12"], "multiples of 8"),
    (["eval", "tokenizer", "{clip}", "--chunk-size", "0"], "--chunk-size must be >= 1"),
    (["eval", "tokenizer", "{clip}", "--sheet-frames", "0"], "--sheet-frames must be >= 1"),
    (["eval", "tokenizer", "{clip}", "--error-gain", "nan"], "--error-gain must be a finite number"),
    (["eval", "tokenizer", "{clip}", "--report-clips", "-1"], "--report-clips must be >= 0"),
    (["eval", "tokenizer", "{clip}", "--sheet", "{work}/sheet.txt"], "--sheet must end in .png"),
    (["eval", "tokenizer", "{clip}", "--tokenizer", "{empty_dir}"], "no tokenizer at"),
    (["eval", "tokenizer", "--heldout", "bogus"], "invalid choice"),
    (["eval", "prompts", "--pipeline", str(DEMO / "ar"), "--model", "diffusion"], "ar kind of pipeline"),
    (["eval", "prompts", "--pipeline", str(DEMO / "ar"), "--model", "both"], "drop --model both"),
    (["eval", "prompts", "--pipeline", "{empty_dir}"], "no model_index.json"),
    (["eval", "prompts", "--pipeline", "{bad_index}"], "cannot read"),
    (["eval", "prompts", "--pipeline", "{other_pipeline}"], "holds a StableDiffusionPipeline"),
    (["eval", "prompts", "--samples-per-combination", "0"], "--samples-per-combination must be >= 1"),
    (["eval", "prompts", "--batch-size", "abc"], "invalid int value"),
    (["eval", "prompts", "--steps", "0"], "--steps must be >= 1"),
    (["eval", "prompts", "--guidance", "nan"], "--guidance must be a finite number"),
    (["eval", "prompts", "--seed", "-3"], "--seed must be >= 0"),
    (["eval", "prompts", "--splits", "bogus"], "invalid choice"),
    (["eval", "prompts", "--device", "cuda"], "--device cuda"),
    (["eval", "prompts", "--clip-model", "someone/some-clip"], "not a local folder"),
    (["eval", "prompts", "--feature-model", "/nonexistent"], "no such folder"),
    (["eval", "prompts", "--model", "diffusion", "--lora", "/nonexistent"], "no LoRA weights at /nonexistent"),
    (["eval", "prompts", "--model", "diffusion", "--lora", "{text}:0.5"], "must be a .safetensors file"),
    (["eval", "fvd", "--real", "{empty_dir}", "--generated", "{empty_dir}", "--feature-model", "someone/videomae"], "no VideoMAE feature model"),
    (["eval", "fvd", "--real", "{empty_dir}", "--generated", "{empty_dir}", "--feature-model", "{text}"], "no VideoMAE feature model"),
    (["eval", "fvd", "--real", "{empty_dir}", "--generated", "{empty_dir}", "--feature-model", "{empty_dir}", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["eval", "fvd", "--real", "{empty_dir}", "--generated", "{empty_dir}", "--feature-model", "{empty_dir}", "--device", "cuda"], "--device cuda"),
    (["eval", "fvd", "--real", "{empty_dir}"], "--generated"),
    (["eval", "clipsim", "--prompts", "{text}", "--clip-model", "someone/some-clip"], "no CLIP model"),
    (["eval", "clipsim", "--prompts", "{text}", "--clip-model", "{empty_dir}"], "no CLIP model"),
    (["eval", "clipsim", "--prompts", "{text}", "--clip-model", "{empty_dir}", "--device", "cuda"], "--device cuda"),
    (["eval", "clipsim", "--prompts", "{text}", "--clip-model", "{empty_dir}", "--num-frames", "abc"], "invalid int value"),
    (["eval", "long", "--num-frames", "20"], "--num-frames must be 1 + 16k"),
    (["eval", "long", "--lengths", "0"], "--lengths must be positive"),
    (["eval", "long", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["eval", "long", "--guidance", "inf"], "--guidance must be a finite number"),
    (["eval", "long", "--seed", "-1"], "--seed must be >= 0"),
    (["eval", "long", "--device", "cuda"], "--device cuda"),
    (["eval", "long", "--pipeline", "someone/some-pipeline"], "not a local folder"),
    (["eval", "long", "--pipeline", str(PRETRAINED / "tokenizer_fsq")], "not a pipeline"),
    (["eval", "long", "--pipeline", str(DEMO / "diffusion"), "--model", "ar"], "diffusion kind of pipeline"),
    (["eval", "edit", "--samples-per-combination", "0"], "--samples-per-combination must be >= 1"),
    (["eval", "edit", "--device", "cuda"], "--device cuda"),
    (["eval", "edit", "--pipeline", "someone/some-pipeline"], "not a local folder"),
    (["eval", "edit", "--pipeline", str(DEMO / "ar"), "--model", "diffusion"], "ar kind of pipeline"),
    (["eval", "upscale", "--num-clips", "0"], "--num-clips must be >= 1"),
    (["eval", "upscale", "--seed", "-1"], "--seed must be >= 0"),
    (["eval", "upscale", "--device", "cuda"], "--device cuda"),
    # generate: sound and adapters
    (["generate", "p", "-o", "{out}", "--audio", "{text}"], "no audio codec"),
    (["generate", "p", "-o", "{out}", "--model", "ar", "--task", "a2v", "--audio", "{text}"], "no audio codec"),
    (["generate", "p", "-o", "{out}", "--video", "{text}"], "cannot read"),
    (["generate", "p", "-o", "{out}", "--video", "{empty_dir}"], "is a folder"),
    (["generate", "p", "-o", "{empty_dir}"], "--output must end in"),
    (["generate", "p", "-o", "{work}/v.wav", "--model", "ar", "--task", "v2a", "--video", "{clip}"], "no audio codec"),
    (["generate", "p", "-o", "{out}", "--lora", "/nonexistent"], "no LoRA weights at /nonexistent"),
    (["generate", "p", "-o", "{out}", "--lora", "{clip}"], "must be a .safetensors file"),
    (["generate", "p", "-o", "{out}", "--lora", "{empty_dir}:nan"], "the scale must be a finite number"),
    (["generate", "p", "-o", "{out}", "--quantize", "bogus"], "invalid choice"),
    # dataset
    (["dataset", "index", "{work}/missing.jsonl"], "manifest not found"),
    (["dataset", "index", "{text}"], "must be .csv, .tsv, .jsonl"),
    (["dataset", "index", "{empty_manifest}"], "holds no rows"),
    (["dataset", "index", "{bad_manifest}"], "not valid JSON"),
    (["dataset", "index", "{empty_dir}"], "manifest not found"),
    (["dataset", "check", "{bad_manifest}"], "not valid JSON"),
    (["dataset", "check", "{no_caption_manifest}"], "has no 'caption' entry"),
    (["dataset", "check", "{empty_manifest}"], "holds no rows"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--num-frames", "0"], "--num-frames must be >= 1"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--height", "0"], "--height must be >= 8"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--fps", "nan"], "--fps must be a finite number"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--seed", "-1"], "--seed must be >= 0"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--audio-sample-rate", "5"], "--audio-sample-rate must be >= 1000"),
    (["dataset", "synth", "--out", "{work}/set", "--num", "2", "--split", "bogus"], "invalid choice"),
    (["dataset", "synth", "--out", "{text}", "--num", "2"], "Not a directory"),
    (["dataset", "sheet", "{clip}", "--out", "{work}/sheet.png", "--num-frames", "0"], "--num-frames must be >= 1"),
    (["dataset", "sheet", "{clip}", "--out", "{work}/sheet.png", "--columns", "0"], "--columns must be >= 1"),
    (["dataset", "sheet", "{clip}", "--out", "{work}/sheet.txt"], "--out must end in .png"),
    (["dataset", "sheet", "{corrupt}", "--out", "{work}/sheet.png"], "cannot read"),
    (["dataset", "encode", "{work}/missing.jsonl", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache"], "manifest not found"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "/nonexistent", "--out", "{work}/cache"], "no tokenizer at"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "someone/some-tokenizer", "--out", "{work}/cache"], "not a local folder"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:bogus", "--out", "{work}/cache"], "unknown pretrained tokenizer"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{text}"], "is a file"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--num-workers", "-1"], "--num-workers must be >= 0"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--text-max-length", "0"], "--text-max-length must be >= 1"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--device", "cuda"], "--device cuda"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--text-encoder", "/nonexistent"], "text encoder '/nonexistent'"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--config", "{work}/missing.yaml"], "config file not found"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "data.frame_stride=abc"], "data.frame_stride='abc' must be an integer"),
    (["dataset", "encode", "{manifest}", "--tokenizer", "pretrained:gaussian", "--out", "{work}/cache", "--latent-dtype", "int8"], "invalid choice"),
    # configs
    (["configs", "show", "bogus/none"], "config file not found"),
    (["configs", "show", "{text}"], "unknown config section"),
    (["configs", "show", "{bad_yaml}"], "cannot parse"),
    (["configs", "copy", "bogus/none"], "config file not found"),
    (["configs", "copy", "dit/tiny", "{text}"], "add --force"),
    (["configs", "bogus"], "invalid choice"),
    # bench
    (["bench", "bogus"], "invalid choice"),
    (["bench", "dit", "--device", "cuda"], "--device cuda"),
    (["bench", "dit", "--preset", "bogus"], "invalid choice"),
    (["bench", "tokenizer", "--device", "cuda"], "--device cuda"),
    (["bench", "tokenizer", "--shapes", "abc"], "sizes must be positive whole numbers"),
    (["bench", "lm", "--reps", "abc"], "invalid int value"),
    # every bench option checked before the bench starts (genvid.commands.bench.check_bench_options)
    (["bench", "tokenizer", "--shapes", "1x3x0x64x64"], "sizes must be positive"),
    (["bench", "tokenizer", "--tokenizer", "/nonexistent"], "no such local file"),
    (["bench", "tokenizer", "--tokenizer", "someone/some-tokenizer"], "nothing is downloaded"),
    (["bench", "tokenizer", "--repeats", "0"], "--repeats must be > 0"),
    (["bench", "tokenizer", "--chunk-size", "0"], "--chunk-size must be > 0"),
    (["bench", "tokenizer", "--threads", "0"], "--threads must be > 0"),
    (["bench", "tokenizer", "--config", "missing.yaml"], "config file not found"),
    (["bench", "tokenizer-budget", "--device", "cuda"], "--device cuda"),
    (["bench", "tokenizer-budget", "--budget-seconds", "-1"], "--budget-seconds must be > 0"),
    (["bench", "tokenizer-budget", "--budget-seconds", "nan"], "finite"),
    (["bench", "lm", "--device", "cuda"], "--device cuda"),
    (["bench", "lm", "--batch-sizes", "1,0"], "sizes must be positive"),
    (["bench", "lm-attention", "--tokens", "0,5"], "sizes must be positive"),
    (["bench", "data", "--num-clips", "0"], "--num-clips must be > 0"),
    (["bench", "data", "--folder", "/nonexistent"], "no such local file"),
    (["bench", "scale", "--steps", "0"], "--steps must be > 0"),
    (["bench", "memory", "--size", "0"], "--size must be > 0"),
    (["bench", "memory", "--device", "cuda:3"], "--device cuda:3"),
    (["bench", "dit", "--latents", "13x-1x16"], "sizes must be positive"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from safetensors.torch import save_file

    from genvid.data import write_video
    from genvid.data.synthetic import render_clip

    work = tmp_path_factory.mktemp("bad_inputs")
    write_video(work / "clip.mp4", render_clip("red", "circle", "left", num_frames=9, height=64, width=64), fps=8)
    (work / "text.txt").write_text("not a picture\n")
    (work / "empty.png").write_bytes(b"")
    (work / "empty.mp4").write_bytes(b"")
    (work / "empty.safetensors").write_bytes(b"")
    (work / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    import torch

    save_file({"x": torch.zeros(2)}, str(work / "plain.safetensors"))
    metadata = {"format": "genvid-tokenizer-codes", "kind": "ids", "tokenizer": "pretrained:fsq", "fps": "8"}
    save_file({"ids": torch.zeros(1, 3, 8, 8, dtype=torch.int32)}, str(work / "codes.safetensors"), metadata=metadata)
    (work / "bad.yaml").write_text("model: [unclosed\n")
    (work / "unknown_section.yaml").write_text("task: dit\nmodle: {}\n")
    (work / "bad_index").mkdir()
    (work / "bad_index" / "model_index.json").write_text("{not json")
    (work / "other_pipeline").mkdir()
    (work / "other_pipeline" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (work / "empty_dir").mkdir()
    (work / "empty.jsonl").write_text("")
    (work / "bad.jsonl").write_text("{not json\n")
    (work / "no_caption.jsonl").write_text(json.dumps({"video": "clip.mp4"}) + "\n")
    (work / "manifest.jsonl").write_text(json.dumps({"video": "clip.mp4", "caption": "a red circle moving left"}) + "\n")
    (work / "empty").mkdir()
    return {
        "work": work, "out": work / "out.mp4", "clip": work / "clip.mp4", "text": work / "text.txt",
        "empty_png": work / "empty.png", "empty_mp4": work / "empty.mp4", "empty_codes": work / "empty.safetensors",
        "corrupt": work / "corrupt.mp4", "plain_codes": work / "plain.safetensors", "codes": work / "codes.safetensors",
        "codes_out": work / "codes_out.safetensors", "bad_yaml": work / "bad.yaml",
        "unknown_section": work / "unknown_section.yaml", "bad_index": work / "bad_index",
        "other_pipeline": work / "other_pipeline", "empty_dir": work / "empty_dir",
        "empty_manifest": work / "empty.jsonl", "bad_manifest": work / "bad.jsonl",
        "no_caption_manifest": work / "no_caption.jsonl", "manifest": work / "manifest.jsonl",
    }


@pytest.fixture(scope="module", autouse=True)
def heavy_imports():
    # imported once outside the captured rows: some installed packages print notices on import
    import genvid.pipelines.ar  # noqa: F401
    import genvid.pipelines.diffusion  # noqa: F401
    import genvid.training.loop  # noqa: F401


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access attempted in a bad-input row")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *args, **kwargs: refuse(None, address))
    return attempts


def fill(word: str, files: dict) -> str:
    return word.format(**{key: str(value) for key, value in files.items()})


@pytest.mark.parametrize("argv, expected", ROWS, ids=[" ".join(argv)[:80] for argv, _ in ROWS])
def test_bad_input_is_one_line(argv, expected, files, no_network, capsys, tmp_path, monkeypatch):
    from genvid.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main([fill(word, files) for word in argv])
    except SystemExit as error:
        code = error.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error:" in lines[0] and fill(expected, files) in lines[0], lines[0]
    assert no_network == []


# run as a user would: a fresh process, HF_HUB_OFFLINE not set by the caller
SUBPROCESS_ROWS = [
    (["generate", "p", "-o", "out.mp4", "--pipeline", "someone/some-pipeline"], "not a local folder"),
    (["train", TINY_DIT, "training.max_steps=abc"], "must be an integer"),
    (["generate", "p", "-o", "out.mp4", "--image", "{text}"], "not a readable image"),
]


@pytest.mark.parametrize("argv, expected", SUBPROCESS_ROWS, ids=[" ".join(argv)[:60] for argv, _ in SUBPROCESS_ROWS])
def test_bad_input_in_a_fresh_process(argv, expected, files, tmp_path):
    environment = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "genvid.cli", *[fill(word, files) for word in argv]],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert result.stderr.splitlines()[-1] == errors[0]  # the error is the last thing the user sees


def test_eval_tokenizer_skips_and_counts_unreadable_files(files, capsys, tmp_path):
    from genvid.cli import main

    manifest = tmp_path / "manifest.jsonl"
    rows = [{"video": str(files["clip"]), "caption": "a"}, {"video": str(files["corrupt"]), "caption": "b"}]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    figures = tmp_path / "figures.json"
    assert main(["eval", "tokenizer", str(manifest), "--num-frames", "9", "--json", str(figures)]) == 0
    assert "1 skipped so far" in capsys.readouterr().err
    summary = json.loads(figures.read_text())["summary"]
    assert summary["clips"] == 1 and summary["skipped"] == 1
    manifest.write_text(json.dumps(rows[1]) + "\n")
    assert main(["eval", "tokenizer", str(manifest)]) == 2
    lines = capsys.readouterr().err.splitlines()  # the one file asked for: its own reason, in one line
    assert len(lines) == 1 and lines[0].startswith(f"genvid eval tokenizer: error: cannot read {files['corrupt']}"), lines


def test_memory_estimate_grows_with_the_request():
    from genvid.commands import memory

    small = memory.video_bytes(1, 17, 64, 64)
    assert memory.video_bytes(2, 17, 64, 64) == 2 * small
    assert memory.video_bytes(1, 17, 128, 64) == 2 * small
    config = {"base_channels": 16, "channel_multipliers": [1, 2, 2, 4], "temporal_compression": 4}
    assert memory.tokenizer_factors(config) == (4, 8)
    assert memory.tokenizer_bytes(config, 1, 101, 64, 64) == memory.tokenizer_bytes(config, 1, 33, 64, 64)  # chunked
    free = memory.available_bytes()
    assert free is not None and free > 0
    memory.refuse_if_too_big("a small request", small)  # fits anywhere
    with pytest.raises(Exception, match="estimated"):
        memory.refuse_if_too_big("an impossible request", 10**18)


@pytest.mark.parametrize("kind", ["diffusion", "ar"])
def test_eval_prompts_reads_the_kind_of_a_pipeline_folder(kind):
    """--pipeline DIR alone: model_index.json says diffusion or ar; --model only checks it."""
    from genvid.cli import build_parser, parse
    from genvid.commands.eval.prompts import checked_models

    parser = build_parser()
    assert checked_models(parse(parser, ["eval", "prompts", "--pipeline", str(DEMO / kind)])) == [(kind, DEMO / kind)]
    assert checked_models(parse(parser, ["eval", "prompts", "--pipeline", str(DEMO / kind), "--model", kind])) == [(kind, DEMO / kind)]
    assert [found for found, _ in checked_models(parse(parser, ["eval", "prompts"]))] == ["diffusion", "ar"]
