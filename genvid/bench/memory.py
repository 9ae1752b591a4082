"""``genvid bench memory``: what the memory switches buy, side by side in one run.

- decode: the demo tokenizer decoding a large clip whole, tiled (``enable_tiling``) and sliced
  (``enable_slicing``, a batch of two): seconds and peak memory (CPU: resident growth, sampled;
  GPU: max allocated), and the tiled result's mean difference from the whole decode.
- transformer: the demo DiT in float32, bfloat16, int8 weight-only and int8 dynamic (torchao):
  weight bytes and the seconds of one guided denoising step (batch 2).

One JSON line per figure (genvid.bench.report's layout); tiled and sliced decodes also get a line
beside the whole decode (``peer``: "whole decode"), quantized steps beside float32.
"""

from __future__ import annotations

import argparse
import copy

from genvid.bench import add_machine_arguments, machine, standalone_main

HELP = "tokenizer tiling / slicing peak memory and transformer int8 / bf16 memory and speed (demo models)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, dtypes=())
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=256, help="height and width of the decoded clip (pixels)")
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--tile-overlap", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the median is reported)")
    parser.add_argument("--skip", choices=("decode", "transformer"), default=None)


def bench_decode(pipeline, args, device, report) -> None:
    import torch

    from genvid.bench.tokenizer import _measure

    tokenizer = pipeline.video_tokenizer
    frames, height, width = tokenizer.latent_shape(args.frames, args.size, args.size)
    latents = torch.randn(1, tokenizer.latent_channels, frames, height, width, generator=torch.Generator().manual_seed(0))
    latents = latents.to(device, tokenizer.dtype)
    if tokenizer.is_discrete:
        latents = tokenizer.ids_to_latents(tokenizer.latents_to_ids(latents))
    pair = latents.expand(2, -1, -1, -1, -1).contiguous()
    shape = (1, 3, args.frames, args.size, args.size)
    tiling = f"tiled {args.tile_size}/{args.tile_overlap}"
    figures = {}
    with torch.no_grad():
        whole = tokenizer.decode(latents)
        for case, inputs, setting in (("whole", latents, None), (tiling, latents, "tiling"),
                                      ("batch 2", pair, None), ("batch 2 sliced", pair, "slicing")):
            if setting == "tiling":
                tokenizer.enable_tiling(args.tile_size, args.tile_overlap)
            elif setting == "slicing":
                tokenizer.enable_slicing()
            report.progress(f"decode {case}")
            seconds, peak = _measure(lambda: tokenizer.decode(inputs), device, args.repeats)
            extra = {}
            if setting == "tiling":
                extra["mean_abs_difference"] = float((tokenizer.decode(latents) - whole).abs().mean())
            tokenizer.disable_tiling()
            tokenizer.disable_slicing()
            figures[case] = (seconds, peak)
            report.figure(f"decode {case}", "genvid", shape, "seconds", seconds, "s")
            report.figure(f"decode {case}", "genvid", shape, "peak_memory", peak, "GB", **extra)
    for case, reference in ((tiling, "whole"), ("batch 2 sliced", "batch 2")):
        report.compare(f"decode {case}", shape, "peak_memory", figures[case][1], f"{reference} decode",
                       figures[reference][1], "GB", "lower")


def bench_transformer(pipeline, args, device, report) -> None:
    import torch

    from genvid.bench.tokenizer import _measure
    from genvid.pipelines.memory import quantize_model, weight_bytes

    base = pipeline.transformer
    config = base.config
    frames, height, width = pipeline.video_tokenizer.latent_shape(17, 64, 64)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, config.in_channels, frames, height, width, generator=generator).to(device)
    text = torch.randn(2, 12, config.text_hidden_size, generator=generator).to(device)
    timestep = torch.tensor([500.0, 500.0], device=device)
    shape = tuple(latents.shape)
    reference = None
    for mode in ("float32", "bfloat16", "int8", "int8_dynamic"):
        model = copy.deepcopy(base).to(device)
        if mode == "bfloat16":
            model = model.to(torch.bfloat16)
        elif mode != "float32":
            quantize_model(model, mode)
        dtype = torch.bfloat16 if mode == "bfloat16" else torch.float32

        def step():
            with torch.no_grad():
                return model(latents.to(dtype), timestep, text.to(dtype)).sample.float()

        report.progress(f"transformer {mode}")
        out = step()
        if reference is None:
            reference = out
        seconds, peak = _measure(step, device, args.repeats)
        megabytes = weight_bytes(model) / 2**20
        case = f"transformer step {mode}"
        difference = float((out - reference).abs().max())
        if mode == "float32":
            reference_figures = (seconds, megabytes)
            report.figure(case, "genvid", shape, "seconds", seconds, "s", peak_gb=peak)
            report.figure(case, "genvid", shape, "weight_memory", megabytes, "MB")
        else:
            report.compare(case, shape, "seconds", seconds, "float32", reference_figures[0], "s", "lower", peak_gb=peak)
            report.compare(case, shape, "weight_memory", megabytes, "float32", reference_figures[1], "MB", "lower",
                           max_abs_difference_from_float32=difference)


def run(args) -> int:
    import torch

    from genvid.demo import demo_path
    from genvid.pipelines.diffusion import GenVidDiffusionPipeline

    device = machine(args).device
    from genvid.bench.report import Report

    pipeline = GenVidDiffusionPipeline.from_pretrained(demo_path("diffusion")).to(device)
    pipeline.set_progress_bar_config(disable=True)
    report = Report("memory", device, torch.float32)
    if args.skip != "decode":
        bench_decode(pipeline, args, device, report)
    if args.skip != "transformer":
        bench_transformer(pipeline, args, device, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
