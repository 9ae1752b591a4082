"""Benchmark: VideoLanguageModel decode and training throughput beside transformers' LlamaForCausalLM.

Both models get the same size (hidden, layers, heads, MLP width, vocabulary) and random weights, and
are timed in the same run on the same shapes: decoding ``--new-tokens`` tokens after a
``--prefix-tokens`` prefix with top-k sampling at batch 1 and 8, and a training step (forward,
backward, AdamW) at ``--train-batch`` x ``--train-length`` tokens. One JSON line per figure.
Same-run ratios are what compare on a shared machine; absolute figures count only on a GPU. On a
CPU each line also carries ``cpu_s`` (process CPU time) and comparisons ``cpu_ratio``, read like
``ratio``: a machine shared with other jobs disturbs CPU time less than the wall clock.

Presets: ``537m`` (hidden 1024, 24 layers, vocabulary 65536: the reference peer run), ``small`` (for
CPUs, well under a minute) and ``50m`` (hidden 512, 10 layers, vocabulary 8192: 50.5M parameters, a
1,024-token context: 128 tokens decoded after 896, training on 1 x 1,024). Run: ``genvid bench lm
--preset small`` or ``python scripts/bench_lm.py``. Lines in the layout of
:mod:`genvid.bench.report`; MFU only where the device's peak is known.

All models are built first; each decode batch size and the training step then time every model
(and cache mode) in turn, A B A B ..., the median of ``--reps``: a machine whose load drifts slows
every arm alike.
"""

from __future__ import annotations

import argparse
import gc
import time

from genvid.bench import add_machine_arguments, machine, standalone_main

HELP = "LM decode tokens/s and training step time vs LlamaForCausalLM"

#: the preset a GPU runs unless told
GPU_PRESET = "537m"

PRESETS = {
    "537m": dict(hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096, vocab_size=65536,
                 new_tokens=1280, prefix_tokens=64, train_batch=8, train_length=1344),
    # under a minute on a CPU with the peer (decode dominates: 128 tokens at batch 1 and 8, two modes)
    "small": dict(hidden_size=256, num_layers=4, num_heads=4, intermediate_size=1024, vocab_size=4096,
                  new_tokens=128, prefix_tokens=64, train_batch=4, train_length=256),
    "50m": dict(hidden_size=512, num_layers=10, num_heads=8, intermediate_size=2048, vocab_size=8192,
                new_tokens=128, prefix_tokens=896, train_batch=1, train_length=1024),
}
NUM_SPECIAL_TOKENS = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, PRESETS, GPU_PRESET, "model size and shapes", dtypes=("bfloat16", "float32"))
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--prefix-tokens", type=int, default=None)
    parser.add_argument("--batch-sizes", default="1,8", help="decode batch sizes, comma separated")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--train-batch", type=int, default=None)
    parser.add_argument("--train-length", type=int, default=None)
    parser.add_argument("--sliding-window", type=int, default=None,
                        help="also time genvid with local/global layers (Gemma-3 pattern 6) at this window")
    parser.add_argument("--compile", action="store_true",
                        help="also time the static-cache decode step under torch.compile(mode='reduce-overhead') (CUDA)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="device peak for MFU (default: the known bf16/fp16 peak of the GPU; no MFU on a CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--skip-peer", action="store_true", help="time genvid only")
    parser.add_argument("--no-train", action="store_true", help="decode only")
    parser.add_argument("--no-decode", action="store_true", help="training step only")
    parser.add_argument("--reps", type=int, default=2)


def _synchronizer(device):
    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def _peak_memory_gb(torch, device) -> float | None:
    if torch.device(device).type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def _reset_memory(torch, device) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _genvid_model(shape: dict, sliding_window, device, dtype):
    from genvid.models.lm import VideoLanguageModel

    return VideoLanguageModel(
        codebook_size=shape["vocab_size"] - NUM_SPECIAL_TOKENS,
        num_special_tokens=NUM_SPECIAL_TOKENS,
        hidden_size=shape["hidden_size"],
        num_layers=shape["num_layers"],
        num_heads=shape["num_heads"],
        intermediate_size=shape["intermediate_size"],
        max_sequence_length=max(shape["prefix_tokens"] + shape["new_tokens"], shape["train_length"]) + 8,
        sliding_window=sliding_window,
        local_global_pattern=6,
        qk_norm=True,
    ).to(device, dtype).eval()


def _llama_model(shape: dict, device, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape["vocab_size"], hidden_size=shape["hidden_size"], intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_layers"], num_attention_heads=shape["num_heads"],
        num_key_value_heads=shape["num_heads"], max_position_embeddings=4096,
    )
    return LlamaForCausalLM(config).to(device, dtype).eval()


def _train_step(torch, forward_loss, model, device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=torch.device(device).type == "cuda")

    def step():
        model.train()
        loss = forward_loss()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.eval()

    return step


def _timed_in_turn(arms: dict, failed, warmup: int, reps: int, device, progress=lambda message: None) -> dict:
    """Median seconds of each arm, timed in turn; an arm whose first call fails gets its error line
    (``failed(name, error)``) and drops out, so it does not hide the others' figures. On a CPU also
    ``(name, "cpu_s")``, the median process CPU time; on CUDA ``(name, "peak_gb")``: one more call
    per arm, measured apart."""
    import torch

    from genvid.bench.report import time_interleaved

    synchronize = _synchronizer(device)
    first_call = {}
    for name, function in list(arms.items()):
        try:
            start = time.perf_counter()
            function()
            synchronize()
            first_call[name] = time.perf_counter() - start
            # on stderr at once, so a run cut short by a time limit still shows each arm's speed
            progress(f"{' '.join(name) if isinstance(name, tuple) else name}: first call {first_call[name]:.2f} s")
        except Exception as error:
            failed(name, error)
            del arms[name]
    cpu_seconds = {}
    results = time_interleaved(arms, max(warmup - 1, 0), reps, synchronize, cpu_seconds)
    results.update({(name, "first_call_s"): seconds for name, seconds in first_call.items()})
    if torch.device(device).type == "cpu":
        results.update({(name, "cpu_s"): seconds for name, seconds in cpu_seconds.items()})
    if torch.device(device).type == "cuda":
        for name, function in arms.items():
            _reset_memory(torch, device)
            function()
            results[(name, "peak_gb")] = _peak_memory_gb(torch, device)
    return results


def _matmul_tflops(torch, device, dtype) -> float:
    from genvid.bench.report import time_interleaved

    size = 1024 if torch.device(device).type == "cpu" else 8192
    left = torch.randn(size, size, device=device, dtype=dtype)
    right = torch.randn(size, size, device=device, dtype=dtype)
    seconds = time_interleaved({"matmul": lambda: left @ right}, 1, 3, _synchronizer(device))["matmul"]
    return 2 * size**3 / seconds / 1e12


def _decode_figure(report, name, mode, batch, shape, seconds, new_tokens, memory, **extra) -> float:
    tokens_per_second = batch * new_tokens / seconds
    report.figure(f"decode_{mode}", name, f"{batch}x{shape}", "tokens_per_second", tokens_per_second, "tokens/s",
                  s=round(seconds, 3), **({"peak_gb": memory} if memory is not None else {}), **extra)
    return tokens_per_second


def run(args) -> int:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from genvid.bench.report import Report, peak_flops, significant

    diffusers_logging.set_verbosity_error()  # ModelMixin.to(dtype) warns about fp32 modules it does not have

    device, dtype, preset = machine(args, GPU_PRESET)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = dict(PRESETS[preset])
    for key in ("new_tokens", "prefix_tokens", "train_batch", "train_length"):
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    batch_sizes = [] if args.no_decode else [int(size) for size in str(args.batch_sizes).split(",") if size]
    report = Report("lm", device, dtype)
    peak = peak_flops(device, dtype, args.peak_tflops)

    new_tokens, prefix_tokens = shape["new_tokens"], shape["prefix_tokens"]
    decode_shape = f"{prefix_tokens}+{new_tokens}"
    train_shape = f"{shape['train_batch']}x{shape['train_length']}"
    report.progress(f"matmul rate ({preset} preset)")
    report.figure("setup", "torch", "matmul", "matmul_tflops", _matmul_tflops(torch, device, dtype), "TFLOP/s",
                  preset=preset, torch=torch.__version__, peak_tflops=None if peak is None else peak / 1e12, **shape)

    low, high = NUM_SPECIAL_TOKENS, shape["vocab_size"]
    generator = torch.Generator(device=device).manual_seed(0)
    models = {}
    for name, window in [("genvid", None)] + ([("genvid_local_global", args.sliding_window)] if args.sliding_window else []):
        report.progress(f"{name}: building")
        models[name] = _genvid_model(shape, window, device, dtype)
    if not args.skip_peer:
        report.progress("hf_llama: building")
        try:
            models["hf_llama"] = _llama_model(shape, device, dtype)
        except Exception as error:
            report.figure("build", "hf_llama", "-", "parameters", None, "count", error=repr(error)[:300])
    parameters = {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}

    decoded: dict[tuple[str, int], tuple] = {}  # (model, batch) -> best tokens/s, its mode, its CPU seconds
    for batch in batch_sizes:
        arms = _decode_arms(args, models, batch, shape, device, generator)
        report.progress(f"{', '.join(f'{name} {mode}' for name, mode in arms)}: decode {new_tokens} tokens at "
                        f"batch {batch}, in turn ({args.reps} timed each)")

        def failed(arm, error, batch=batch):
            report.figure(f"decode_{arm[1]}", arm[0], f"{batch}x{decode_shape}", "tokens_per_second", None,
                          "tokens/s", error=repr(error)[:300])

        seconds_of = _timed_in_turn(arms, failed, 1, args.reps, device, report.progress)
        for (name, mode) in arms:
            extra = {"first_call_s": round(seconds_of[((name, mode), "first_call_s")], 1)} if mode.endswith("compiled") else {}
            cpu = seconds_of.get(((name, mode), "cpu_s"))
            if cpu is not None:
                extra["cpu_s"] = significant(cpu)
            rate = _decode_figure(report, name, mode, batch, decode_shape, seconds_of[(name, mode)], new_tokens,
                                  seconds_of.get(((name, mode), "peak_gb")), params_m=round(parameters[name] / 1e6, 1),
                                  **extra)
            if rate > decoded.get((name, batch), (0.0,))[0]:
                decoded[(name, batch)] = (rate, mode, cpu)

    if not args.no_train:
        _time_training(args, report, models, parameters, shape, device, dtype, generator, peak)
    for batch in batch_sizes:
        if ("genvid", batch) in decoded and ("hf_llama", batch) in decoded:
            (ours, our_mode, our_cpu), (theirs, their_mode, their_cpu) = decoded[("genvid", batch)], decoded[("hf_llama", batch)]
            # read like the ratio (higher: genvid better): the peer's CPU time over genvid's
            cpu = {"cpu_ratio": significant(their_cpu / our_cpu)} if our_cpu and their_cpu else {}
            report.compare("decode", f"{batch}x{decode_shape}", "tokens_per_second", ours, "hf_llama", theirs,
                           "tokens/s", better="higher", genvid_mode=our_mode, peer_mode=their_mode, **cpu)
    return 0


def _time_training(args, report, models, parameters, shape, device, dtype, generator, peak) -> None:
    """One training step (forward, loss, backward, AdamW) of every model, timed in turn."""
    import torch

    from genvid.bench.report import significant

    low, high = NUM_SPECIAL_TOKENS, shape["vocab_size"]
    prefix_tokens = shape["prefix_tokens"]
    train_shape = f"{shape['train_batch']}x{shape['train_length']}"
    tokens = torch.randint(low, high, (shape["train_batch"], shape["train_length"]), device=device, generator=generator)
    steps = {name: _train_step(torch, _loss_function(name, model, tokens, prefix_tokens, device, dtype), model, device)
             for name, model in models.items()}
    report.progress(f"{', '.join(steps)}: training step {train_shape}, in turn ({max(args.reps, 3)} timed each)")
    trained = _timed_in_turn(steps, lambda name, error: report.figure(
        "train", name, train_shape, "step_time", None, "s", error=repr(error)[:300]), 2, max(args.reps, 3), device,
        report.progress)
    count = tokens.numel()
    for name in steps:
        seconds = trained[name]
        cpu = trained.get((name, "cpu_s"))
        report.figure("train", name, train_shape, "step_time", seconds, "s", tokens_per_s=round(count / seconds, 1),
                      params_m=round(parameters[name] / 1e6, 1), peak_gb=trained.get((name, "peak_gb")),
                      **({} if cpu is None else {"cpu_s": significant(cpu)}))
        report.mfu("train", name, train_shape, 6 * parameters[name] * count, seconds, peak, flop_count="6N")
        if name != "hf_llama":
            report.mfu("train", name, train_shape,
                       3 * models[name].forward_flops(shape["train_length"]) * shape["train_batch"], seconds, peak,
                       flop_count="with_attention")
    if "genvid" in steps and "hf_llama" in steps:
        ours, theirs = trained.get(("genvid", "cpu_s")), trained.get(("hf_llama", "cpu_s"))
        cpu = {"cpu_ratio": significant(ours / theirs)} if ours and theirs else {}
        report.compare("train", train_shape, "step_time", trained["genvid"], "hf_llama", trained["hf_llama"], "s",
                       better="lower", **cpu)


def _decode_arms(args, models: dict, batch: int, shape: dict, device, generator) -> dict:
    """``(model, cache mode) -> decode()`` for one batch size: genvid's eager and static caches
    (and compiled on CUDA with ``--compile``), transformers' DynamicCache (and its static cache on CUDA)."""
    import torch

    from genvid.models.sampling import generate

    on_cuda = torch.device(device).type == "cuda"
    new_tokens, prefix_tokens = shape["new_tokens"], shape["prefix_tokens"]
    low, high = NUM_SPECIAL_TOKENS, shape["vocab_size"]
    prefix = torch.randint(low, high, (batch, prefix_tokens), device=device, generator=generator)
    arms = {}
    for name, model in models.items():
        if name == "hf_llama":
            for mode, implementation in [("dynamic_cache", None)] + ([("static_cache", "static")] if on_cuda else []):
                extra = {"cache_implementation": implementation} if implementation else {}

                def decode(model=model, extra=extra):
                    with torch.no_grad():
                        model.generate(prefix, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                                       top_k=args.top_k, pad_token_id=0, **extra)

                arms[(name, mode)] = decode
            continue
        modes = [("eager_cache", False, False), ("static_cache", True, False)]
        if args.compile and on_cuda:
            modes.append(("static_cache_compiled", True, True))
        for mode, static, compiled in modes:
            def decode(model=model, static=static, compiled=compiled):
                generate(model, prefix, new_tokens, top_k=args.top_k, allowed=(low, high), generator=generator,
                         static_cache=static, compile=compiled, progress=False)

            arms[(name, mode)] = decode
    return arms


def _loss_function(name: str, model, tokens, prefix_tokens: int, device, dtype):
    import torch

    autocast = dict(device_type=torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)
    if name == "hf_llama":
        def loss():
            with torch.autocast(**autocast):
                return model(input_ids=tokens, labels=tokens).loss
        return loss

    # the labels shifted, not the logits (as transformers' loss does): logits[:, :-1] would copy a
    # (tokens x vocabulary) tensor every step; the same mean over the same predictions
    targets = torch.nn.functional.pad(tokens[:, 1:], (0, 1), value=-100).flatten()

    def loss():
        with torch.autocast(**autocast):
            logits = model(tokens, prefix_length=prefix_tokens)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets, ignore_index=-100)
    return loss


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
