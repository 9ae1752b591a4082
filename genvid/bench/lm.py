"""Benchmark: VideoLanguageModel decode and training throughput beside transformers' LlamaForCausalLM.

Both models get the same size (hidden, layers, heads, MLP width, vocabulary) and random weights, and
are timed in the same run on the same shapes: decoding ``--new-tokens`` tokens after a
``--prefix-tokens`` prefix with top-k sampling at batch 1 and 8, and a training step (forward,
backward, AdamW) at ``--train-batch`` x ``--train-length`` tokens. One JSON line per figure.
Same-run ratios are what compare on a shared machine; absolute figures count only on a GPU.

Presets: ``537m`` (hidden 1024, 24 layers, vocabulary 65536: the reference peer run) and
``small`` (for CPUs, well under a minute). Run: ``genvid bench lm --preset small`` or
``python scripts/bench_lm.py``. Lines in the layout of :mod:`genvid.bench.report`; MFU only where
the device's peak is known.
"""

from __future__ import annotations

import argparse
import gc
import time

HELP = "LM decode tokens/s and training step time vs LlamaForCausalLM"

PRESETS = {
    "537m": dict(hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096, vocab_size=65536,
                 new_tokens=1280, prefix_tokens=64, train_batch=8, train_length=1344),
    # under a minute on a CPU with the peer (decode dominates: 128 tokens at batch 1 and 8, two modes)
    "small": dict(hidden_size=256, num_layers=4, num_heads=4, intermediate_size=1024, vocab_size=4096,
                  new_tokens=128, prefix_tokens=64, train_batch=4, train_length=256),
}
NUM_SPECIAL_TOKENS = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="model size and shapes (default: 537m on CUDA, small on CPU)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default=None,
                        help="default bfloat16 on CUDA, float32 on CPU")
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
    parser.add_argument("--reps", type=int, default=2)


class _Timer:
    def __init__(self, device):
        import torch

        self.torch = torch
        self.cuda = torch.device(device).type == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def __call__(self, function, warmup: int = 1, reps: int = 2) -> float:
        for _ in range(warmup):
            function()
        self.sync()
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            function()
            self.sync()
            best = min(best, time.perf_counter() - start)
        return best


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


def _train_step_timer(torch, timer, forward_loss, model, device, reps):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=torch.device(device).type == "cuda")
    model.train()

    def step():
        loss = forward_loss()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds = timer(step, warmup=2, reps=max(reps, 3))
    model.eval()
    del optimizer
    return seconds


def _matmul_tflops(torch, timer, device, dtype) -> float:
    size = 1024 if torch.device(device).type == "cpu" else 8192
    left = torch.randn(size, size, device=device, dtype=dtype)
    right = torch.randn(size, size, device=device, dtype=dtype)
    seconds = timer(lambda: left @ right, warmup=1, reps=3)
    return 2 * size**3 / seconds / 1e12


def _decode_figure(report, name, mode, batch, shape, seconds, new_tokens, memory, **extra) -> float:
    tokens_per_second = batch * new_tokens / seconds
    report.figure(f"decode_{mode}", name, f"{batch}x{shape}", "tokens_per_second", tokens_per_second, "tokens/s",
                  s=round(seconds, 3), **({"peak_gb": memory} if memory is not None else {}), **extra)
    return tokens_per_second


def run(args) -> int:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from genvid.bench.report import Report, peak_flops
    from genvid.models.sampling import generate

    diffusers_logging.set_verbosity_error()  # ModelMixin.to(dtype) warns about fp32 modules it does not have

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = torch.device(device).type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = args.preset or ("537m" if on_cuda else "small")
    shape = dict(PRESETS[preset])
    for key in ("new_tokens", "prefix_tokens", "train_batch", "train_length"):
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    dtype = getattr(torch, args.dtype or ("bfloat16" if on_cuda else "float32"))
    batch_sizes = [int(size) for size in str(args.batch_sizes).split(",") if size]
    timer = _Timer(device)
    reps = args.reps
    report = Report("lm", device, dtype)
    peak = peak_flops(device, dtype, args.peak_tflops)

    new_tokens, prefix_tokens = shape["new_tokens"], shape["prefix_tokens"]
    decode_shape = f"{prefix_tokens}+{new_tokens}"
    train_shape = f"{shape['train_batch']}x{shape['train_length']}"
    report.progress(f"matmul rate ({preset} preset)")
    report.figure("setup", "torch", "matmul", "matmul_tflops", _matmul_tflops(torch, timer, device, dtype), "TFLOP/s",
                  preset=preset, torch=torch.__version__, peak_tflops=None if peak is None else peak / 1e12, **shape)

    low, high = NUM_SPECIAL_TOKENS, shape["vocab_size"]
    variants = [("genvid", None)] + ([("genvid_local_global", args.sliding_window)] if args.sliding_window else [])
    generator = torch.Generator(device=device).manual_seed(0)
    decoded: dict[tuple[str, int], tuple[float, str]] = {}  # (model, batch) -> best tokens/s, its mode
    trained: dict[str, float] = {}

    def keep_best(name, batch, rate, mode):
        if rate > decoded.get((name, batch), (0.0, ""))[0]:
            decoded[(name, batch)] = (rate, mode)

    for name, window in variants:
        report.progress(f"{name}: building")
        model = _genvid_model(shape, window, device, dtype)
        parameters = sum(p.numel() for p in model.parameters())
        decode_modes = [("eager_cache", False, False), ("static_cache", True, False)]
        if args.compile and on_cuda:
            decode_modes.append(("static_cache_compiled", True, True))
        for mode, static, compiled in decode_modes:
            for batch in batch_sizes:
                prefix = torch.randint(low, high, (batch, prefix_tokens), device=device, generator=generator)

                def decode():
                    generate(model, prefix, new_tokens, top_k=args.top_k, allowed=(low, high), generator=generator,
                             static_cache=static, compile=compiled, progress=False)

                report.progress(f"{name}: decode {new_tokens} tokens, {mode}, batch {batch}")
                _reset_memory(torch, device)
                try:
                    extra = {}
                    if compiled:  # the first call compiles and records the CUDA graph; time the later ones
                        start = time.perf_counter()
                        decode()
                        timer.sync()
                        extra["first_call_s"] = round(time.perf_counter() - start, 1)
                    seconds = timer(decode, warmup=0 if compiled else 1, reps=reps)
                except Exception as error:  # a failing variant should not hide the others' figures
                    report.figure(f"decode_{mode}", name, f"{batch}x{decode_shape}", "tokens_per_second", None,
                                  "tokens/s", error=repr(error)[:300])
                    continue
                rate = _decode_figure(report, name, mode, batch, decode_shape, seconds, new_tokens,
                                      _peak_memory_gb(torch, device), params_m=round(parameters / 1e6, 1), **extra)
                keep_best(name, batch, rate, mode)

        tokens = torch.randint(low, high, (shape["train_batch"], shape["train_length"]), device=device, generator=generator)

        def genvid_loss():
            with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32):
                logits = model(tokens, prefix_length=prefix_tokens)
            return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())

        report.progress(f"{name}: training step {train_shape}")
        _reset_memory(torch, device)
        seconds = _train_step_timer(torch, timer, genvid_loss, model, device, reps)
        trained[name] = seconds
        count = tokens.numel()
        report.figure("train", name, train_shape, "step_time", seconds, "s", tokens_per_s=round(count / seconds, 1),
                      params_m=round(parameters / 1e6, 1), peak_gb=_peak_memory_gb(torch, device))
        report.mfu("train", name, train_shape, 6 * parameters * count, seconds, peak, flop_count="6N")
        report.mfu("train", name, train_shape, 3 * model.forward_flops(shape["train_length"]) * shape["train_batch"],
                   seconds, peak, flop_count="with_attention")
        del model
        _reset_memory(torch, device)

    if not args.skip_peer:
        _time_llama(args, report, shape, device, dtype, timer, generator, peak, decoded, trained, keep_best)
    for batch in batch_sizes:
        if ("genvid", batch) in decoded and ("hf_llama", batch) in decoded:
            (ours, our_mode), (theirs, their_mode) = decoded[("genvid", batch)], decoded[("hf_llama", batch)]
            report.compare("decode", f"{batch}x{decode_shape}", "tokens_per_second", ours, "hf_llama", theirs,
                           "tokens/s", better="higher", genvid_mode=our_mode, peer_mode=their_mode)
    if "genvid" in trained and "hf_llama" in trained:
        report.compare("train", train_shape, "step_time", trained["genvid"], "hf_llama", trained["hf_llama"], "s",
                       better="lower")
    return 0


def _time_llama(args, report, shape, device, dtype, timer, generator, peak, decoded, trained, keep_best) -> None:
    import torch

    report.progress("hf_llama: building")
    try:
        llama = _llama_model(shape, device, dtype)
    except Exception as error:
        report.figure("build", "hf_llama", "-", "parameters", None, "count", error=repr(error)[:300])
        return
    parameters = sum(p.numel() for p in llama.parameters())
    on_cuda = torch.device(device).type == "cuda"
    new_tokens, prefix_tokens = shape["new_tokens"], shape["prefix_tokens"]
    decode_shape = f"{prefix_tokens}+{new_tokens}"
    low, high = NUM_SPECIAL_TOKENS, shape["vocab_size"]
    cache_modes = [("dynamic_cache", None)] + ([("static_cache", "static")] if on_cuda else [])
    for mode, implementation in cache_modes:
        for batch in [int(size) for size in str(args.batch_sizes).split(",") if size]:
            prompt = torch.randint(low, high, (batch, prefix_tokens), device=device, generator=generator)
            extra = {"cache_implementation": implementation} if implementation else {}

            def decode():
                with torch.no_grad():
                    llama.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                                   top_k=args.top_k, pad_token_id=0, **extra)

            report.progress(f"hf_llama: generate {new_tokens} tokens, {mode}, batch {batch}")
            _reset_memory(torch, device)
            try:
                seconds = timer(decode, warmup=1, reps=args.reps)
            except Exception as error:
                report.figure(f"decode_{mode}", "hf_llama", f"{batch}x{decode_shape}", "tokens_per_second", None,
                              "tokens/s", error=repr(error)[:300])
                continue
            rate = _decode_figure(report, "hf_llama", mode, batch, decode_shape, seconds, new_tokens,
                                  _peak_memory_gb(torch, device), params_m=round(parameters / 1e6, 1))
            keep_best("hf_llama", batch, rate, mode)

    tokens = torch.randint(low, high, (shape["train_batch"], shape["train_length"]), device=device, generator=generator)

    def llama_loss():
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32):
            return llama(input_ids=tokens, labels=tokens).loss

    train_shape = f"{shape['train_batch']}x{shape['train_length']}"
    report.progress(f"hf_llama: training step {train_shape}")
    _reset_memory(torch, device)
    seconds = _train_step_timer(torch, timer, llama_loss, llama, device, args.reps)
    trained["hf_llama"] = seconds
    count = tokens.numel()
    report.figure("train", "hf_llama", train_shape, "step_time", seconds, "s", tokens_per_s=round(count / seconds, 1),
                  params_m=round(parameters / 1e6, 1), peak_gb=_peak_memory_gb(torch, device))
    report.mfu("train", "hf_llama", train_shape, 6 * parameters * count, seconds, peak, flop_count="6N")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
