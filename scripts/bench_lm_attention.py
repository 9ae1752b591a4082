"""Benchmark: peak memory and step time of LM training with and without a dense prefix-LM mask.

``prefix_lm`` is what the LM does now: a whole sequence attends through
:class:`genvid.models.attention.PrefixLM` (an unmasked SDPA pass over the prefix plus one causal
pass, no ``(length x length)`` tensor). ``dense`` is the path it replaced: the model builds the dense
boolean mask and hands it to SDPA (forced here by making ``prefix_lm`` decline every mask).

Each (tokens, mode) case runs in its own process so that its peak resident memory is its own; the
modes alternate and repeat, and the summary takes medians. The sequence is one i2v-like row: a
prefix of a quarter of the tokens holding a padded text span, then causal targets; one step is
forward, cross-entropy on the targets, backward and AdamW.

Run: ``python scripts/bench_lm_attention.py --tokens 1024,4096,16384`` (one JSON line per case, then
one summary line per token count).
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

MODES = ("dense", "prefix_lm")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(tokens: int, mode: str, steps: int, threads: int, hidden_size: int, num_layers: int) -> dict:
    import torch

    import genvid.models.lm as lm_module
    from genvid.models.lm import VideoLanguageModel
    from genvid.models.sequence import TEXT

    torch.set_num_threads(threads)
    if mode == "dense":
        lm_module.prefix_lm = lambda *args, **kwargs: None
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
        return float(loss)

    resident_before = _peak_rss_mib()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = _peak_rss_mib()
    return dict(
        bench="lm_attention", tokens=tokens, mode=mode, threads=threads, hidden_size=hidden_size,
        num_layers=num_layers, steps=steps, step_seconds=round(statistics.median(times), 4),
        peak_rss_mib=round(peak, 1), step_peak_over_setup_mib=round(peak - resident_before, 1),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", default="1024,4096,16384", help="sequence lengths, comma separated")
    parser.add_argument("--repeats", type=int, default=2, help="processes per (tokens, mode), alternating modes")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--case", nargs=2, metavar=("TOKENS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = dict(steps=args.steps, threads=args.threads, hidden_size=args.hidden_size, num_layers=args.num_layers)
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1], **shape)), flush=True)
        return 0
    for tokens in [int(value) for value in args.tokens.split(",")]:
        results = {mode: [] for mode in MODES}
        for _ in range(args.repeats):
            for mode in MODES:
                command = [sys.executable, os.path.abspath(__file__), "--case", str(tokens), mode,
                           "--steps", str(args.steps), "--threads", str(args.threads),
                           "--hidden-size", str(args.hidden_size), "--num-layers", str(args.num_layers)]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(json.dumps(dict(bench="lm_attention", tokens=tokens, mode=mode, error=done.stderr.strip()[-500:])))
                    continue
                line = json.loads(done.stdout.strip().splitlines()[-1])
                results[mode].append(line)
                print(json.dumps(line), flush=True)
        if all(results.values()):
            summary = {"bench": "lm_attention_summary", "tokens": tokens, "threads": args.threads}
            for mode, lines in results.items():
                summary[f"{mode}_step_seconds"] = statistics.median(line["step_seconds"] for line in lines)
                summary[f"{mode}_peak_rss_mib"] = statistics.median(line["peak_rss_mib"] for line in lines)
                summary[f"{mode}_step_peak_over_setup_mib"] = statistics.median(
                    line["step_peak_over_setup_mib"] for line in lines)
            summary["step_time_ratio_prefix_lm_over_dense"] = round(
                summary["prefix_lm_step_seconds"] / summary["dense_step_seconds"], 3)
            print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
