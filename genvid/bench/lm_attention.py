"""``genvid bench lm-attention``: peak memory and step time of LM training with and without a dense prefix-LM mask.

``prefix_lm`` is what the LM does now: a whole sequence attends through
:class:`genvid.models.attention.PrefixLM` (an unmasked SDPA pass over the prefix plus one causal
pass, no ``(length x length)`` tensor). ``dense`` is the path it replaced: the model builds the dense
boolean mask and hands it to SDPA (forced here by making ``prefix_lm`` decline every mask).

Each (tokens, mode) case runs in its own process so that its peak resident memory is its own; the
modes alternate and repeat, and the summary takes medians. The sequence is one i2v-like row: a
prefix of a quarter of the tokens holding a padded text span, then causal targets; one step is
forward, cross-entropy on the targets, backward and AdamW.

Run: ``genvid bench lm-attention --tokens 1024,4096,16384`` (or ``python
scripts/bench_lm_attention.py``). Lines in the layout of :mod:`genvid.bench.report`: per token
count and mode the median ``step_time``, ``peak_rss`` (the process's peak resident memory) and
``step_memory`` (that peak less the resident memory before the first step), then comparison lines,
``model`` "genvid" (PrefixLM) with ``peer`` "genvid_dense_mask".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from genvid.bench import standalone_main

HELP = "LM training peak memory and step time: PrefixLM attention vs the dense prefix-LM mask"

MODES = ("dense", "prefix_lm")
#: the bench lines' ``model`` for each mode
MODELS = {"prefix_lm": "genvid", "dense": "genvid_dense_mask"}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(tokens: int, mode: str, steps: int, threads: int, hidden_size: int, num_layers: int) -> dict:
    """One (tokens, mode) case in this process; the dense mode is undone afterwards."""
    import genvid.models.lm as lm_module

    replaced = lm_module.prefix_lm
    if mode == "dense":
        lm_module.prefix_lm = lambda *args, **kwargs: None
    try:
        return _train(tokens, mode, steps, threads, hidden_size, num_layers)
    finally:
        lm_module.prefix_lm = replaced


def _train(tokens: int, mode: str, steps: int, threads: int, hidden_size: int, num_layers: int) -> dict:
    import torch

    from genvid.models.lm import VideoLanguageModel
    from genvid.models.sequence import TEXT

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    text_width, text_length = 64, 32
    torch.manual_seed(0)
    model = VideoLanguageModel(
        codebook_size=1024, hidden_size=hidden_size, num_layers=num_layers, num_heads=4,
        text_hidden_size=text_width, max_sequence_length=tokens,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    prefix = tokens // 4
    input_ids = torch.randint(32, 32 + 1024, (1, tokens), generator=generator)
    input_ids[:, 2 : 2 + text_length] = TEXT
    text = torch.randn(1, text_length, text_width, generator=generator)
    text_mask = torch.ones(1, text_length, dtype=torch.bool)
    text_mask[:, -8:] = False  # padded text: the prefix has padding keys
    targets = input_ids[:, prefix:]

    def step():
        logits = model(input_ids, text, text_mask, prefix, num_logits=tokens - prefix + 1)[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    resident_before = _peak_rss_mib()
    times, losses = [], []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
    peak = _peak_rss_mib()
    return dict(
        bench="lm_attention", tokens=tokens, mode=mode, threads=threads, hidden_size=hidden_size,
        num_layers=num_layers, steps=steps, step_seconds=round(statistics.median(times), 4),
        peak_rss_mib=round(peak, 1), step_peak_over_setup_mib=round(peak - resident_before, 1), first_loss=losses[0],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", default="1024,4096,16384", help="sequence lengths, comma separated")
    parser.add_argument("--repeats", type=int, default=2, help="processes per (tokens, mode), alternating modes")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--case", nargs=2, metavar=("TOKENS", "MODE"), help=argparse.SUPPRESS)


def _case_command(args, tokens: int, mode: str) -> list[str]:
    return [sys.executable, "-m", "genvid.bench.lm_attention", "--case", str(tokens), mode, "--steps", str(args.steps),
            "--threads", str(args.threads), "--hidden-size", str(args.hidden_size), "--num-layers", str(args.num_layers)]


def run(args) -> int:
    from genvid.bench.report import Report
    from genvid.errors import GenvidError

    shape = dict(steps=args.steps, threads=args.threads, hidden_size=args.hidden_size, num_layers=args.num_layers)
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1], **shape)), flush=True)
        return 0
    try:
        token_counts = [int(value) for value in args.tokens.split(",") if value.strip()]
    except ValueError:
        raise GenvidError(f"--tokens must be whole numbers separated by commas, got {args.tokens!r}") from None
    if not token_counts or min(token_counts) < 8:
        raise GenvidError(f"--tokens: each sequence needs at least 8 tokens, got {args.tokens!r}")
    import torch

    torch.set_num_threads(args.threads)  # the lines' ``threads``: what each case process runs with
    report = Report("lm_attention", "cpu", "float32")
    environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for tokens in token_counts:
        results = {mode: [] for mode in MODES}
        shape_label = f"1x{tokens}"
        extra = dict(hidden_size=args.hidden_size, num_layers=args.num_layers, prefix_tokens=tokens // 4)
        for repeat in range(args.repeats):
            for mode in MODES:
                report.progress(f"{tokens} tokens, {mode}, process {repeat + 1} of {args.repeats}")
                done = subprocess.run(_case_command(args, tokens, mode), capture_output=True, text=True, env=environment)
                if done.returncode != 0:
                    report.figure("train", MODELS[mode], shape_label, "step_time", None, "s", attention=mode,
                                  error=done.stderr.strip()[-300:], **extra)
                    continue
                results[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
        if not all(results.values()):
            continue
        medians = {}
        for mode, lines in results.items():
            medians[mode] = {
                "step_time": statistics.median(line["step_seconds"] for line in lines),
                "peak_rss": statistics.median(line["peak_rss_mib"] for line in lines),
                "step_memory": statistics.median(line["step_peak_over_setup_mib"] for line in lines),
            }
            for metric, unit in (("step_time", "s"), ("peak_rss", "MiB"), ("step_memory", "MiB")):
                report.figure("train", MODELS[mode], shape_label, metric, medians[mode][metric], unit, attention=mode,
                              processes=len(lines), **extra)
        for metric, unit in (("step_time", "s"), ("peak_rss", "MiB"), ("step_memory", "MiB")):
            report.compare("train", shape_label, metric, medians["prefix_lm"][metric], MODELS["dense"],
                           medians["dense"][metric], unit, better="lower", **extra)
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    sys.exit(main())
