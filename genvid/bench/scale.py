"""``genvid bench scale``: training steps/s and memory per rank for one process, DDP x N, FSDP x N
and context parallel x N (the DiT) on the DiT and LM ``small`` presets of ``genvid bench dit`` /
``genvid bench lm``, in the same run.

Every layout runs in its own ``torch.distributed.run`` launch of this module (``--worker``), with
the same per-process batch for data parallelism (DDP, FSDP: N x the samples per step) and the same
clip for context parallelism (each rank holds 1/N of its tokens). Per rank: ``steps_per_second``,
``peak_rss_gb`` (the process's peak resident memory; on CUDA ``peak_allocated_gb``) and
``activation_gb`` (the bytes autograd saved for backward in one step, counted by storage: the
activation memory a layout leaves each rank). Lines follow genvid.bench.report: ``case`` is the
layout, ``rank`` and ``processes`` extra fields; then comparison lines against one process
(``peer`` "1 process"). CPU times on a shared machine are noisy; the memory figures are not.

    genvid bench scale --device cpu
    genvid bench scale --device cuda --processes 8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from genvid.bench import parse_size, standalone_main

HELP = "steps/s and memory per rank: 1 process, DDP, FSDP, context parallel (JSON lines)"

LAYOUTS = ("single", "ddp", "fsdp", "context")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--processes", type=int, default=2, help="processes for the parallel layouts")
    parser.add_argument("--models", default="dit,lm", help="comma list of dit, lm")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help=f"comma list of {', '.join(LAYOUTS)}")
    parser.add_argument("--latents", default="13x16x16",
                        help="DiT latent grid TxHxW (default: a longer clip than the preset's 5x16x16)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--port", type=int, default=29561)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--records", default=None, help=argparse.SUPPRESS)


# ------------------------------------------------------------------------------ one process
def _dit_case(latents: str, device):
    import torch

    from genvid.bench.dit import PRESETS
    from genvid.models.dit import VideoDiffusionTransformer

    preset = PRESETS["small"]
    frames, height, width = parse_size(latents, "--latents", "TxHxW")
    model = VideoDiffusionTransformer(**preset["genvid"]).to(device)
    generator = torch.Generator().manual_seed(0)
    channels = preset["genvid"]["in_channels"]
    clip = torch.randn(1, channels, frames, height, width, generator=generator).to(device)
    text = torch.randn(1, preset["text_length"], preset["genvid"]["text_hidden_size"], generator=generator).to(device)
    timestep = torch.full((1,), 500.0, device=device)

    def loss(module):
        return (module(clip, timestep, text).sample - clip).pow(2).mean()

    return model, loss


def _lm_case(device):
    import torch

    from genvid.bench.lm import NUM_SPECIAL_TOKENS, PRESETS
    from genvid.models.lm import VideoLanguageModel

    shape = PRESETS["small"]
    model = VideoLanguageModel(
        codebook_size=shape["vocab_size"] - NUM_SPECIAL_TOKENS, num_special_tokens=NUM_SPECIAL_TOKENS,
        hidden_size=shape["hidden_size"], num_layers=shape["num_layers"], num_heads=shape["num_heads"],
        intermediate_size=shape["intermediate_size"], max_sequence_length=shape["train_length"] + 8,
    ).to(device)
    generator = torch.Generator().manual_seed(0)
    batch = max(1, shape["train_batch"] // 2)
    tokens = torch.randint(0, shape["vocab_size"], (batch, shape["train_length"]), generator=generator).to(device)

    def loss(module):
        logits = module(tokens, prefix_length=64)
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())

    return model, loss


def _saved_bytes(loss_fn) -> tuple[object, int]:
    """The loss of one forward and the bytes autograd kept for its backward (each storage once)."""
    import torch

    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn()
    return loss, sum(seen.values())


def run_worker(args) -> None:
    import torch
    import torch.distributed as dist

    model_name, layout = args.worker.split(":")
    torch.set_num_threads(args.threads)
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    rank = dist.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    model, loss_of = _dit_case(args.latents, device) if model_name == "dit" else _lm_case(device)
    if layout == "ddp":
        # the LM case feeds no text: its text projection gets no gradient
        model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=model_name == "lm")
    elif layout == "fsdp":
        from genvid.training.parallel.fsdp import shard_model

        shard_model(model, "no")
    elif layout == "context":
        model.enable_context_parallel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def loss_fn():
        return loss_of(model)

    def step(measure: bool = False) -> int:
        loss, saved = _saved_bytes(loss_fn) if measure else (loss_fn(), 0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return saved

    activation = step(measure=True)
    for _ in range(args.warmup):
        step()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    record = {
        "bench": "scale", "model": model_name, "layout": layout, "processes": dist.get_world_size(), "rank": rank,
        "device": device.type, "steps_per_second": round(args.steps / elapsed, 4), "activation_gb": activation / 2**30,
    }
    if device.type == "cuda":
        record["peak_allocated_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        record["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if model_name == "dit":
        record["latents"] = args.latents
    # one file a rank: the ranks' stdout lines would interleave
    with open(os.path.join(args.records, f"rank{rank}.json"), "w") as handle:
        json.dump(record, handle)
    dist.barrier()
    dist.destroy_process_group()


# ------------------------------------------------------------------------------ the driver
def _launch(args, model: str, layout: str, report) -> list[dict]:
    import tempfile

    processes = 1 if layout == "single" else args.processes
    records_dir = tempfile.mkdtemp(prefix="genvid_bench_scale_")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(args.port), "-m", "genvid.bench.scale", "--worker", f"{model}:{layout}",
               "--device", args.device, "--latents", args.latents, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--threads", str(args.threads), "--records", records_dir]
    report.progress(f"{model} {layout} on {processes} process(es)")
    environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        report.progress(f"{model} {layout} failed: {[line for line in result.stderr.splitlines() if 'Error' in line][-3:]}")
        return []
    records = [json.loads(Path(records_dir, f"rank{rank}.json").read_text()) for rank in range(processes)]
    shutil.rmtree(records_dir, ignore_errors=True)
    memory = "peak_allocated_gb" if args.device == "cuda" else "peak_rss_gb"
    for record in records:
        extra = dict(rank=record["rank"], processes=record["processes"], layout_model=model)
        shape = record.get("latents", "small")
        report.figure(layout, model, shape, "steps_per_second", record["steps_per_second"], "1/s", **extra)
        report.figure(layout, model, shape, "activation", record["activation_gb"], "GB", **extra)
        report.figure(layout, model, shape, memory.removesuffix("_gb"), record[memory], "GB", **extra)
    return records


def main(args) -> int:
    if args.worker:
        run_worker(args)
        return 0
    from genvid.bench.report import Report

    report = Report("scale", args.device, "float32")
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    for model in models:
        measured = {}
        for layout in layouts:
            if layout == "context" and model != "dit":
                continue  # the LM has no context parallelism (README: multi-GPU and multi-process)
            records = _launch(args, model, layout, report)
            if records:
                measured[layout] = records[0]
        single = measured.get("single")
        for layout, record in measured.items():
            if single is None or layout == "single":
                continue
            shape = record.get("latents", "small")
            samples = 1 if layout == "context" else record["processes"]  # a context group shares one clip
            report.compare(layout, shape, "samples_per_second", record["steps_per_second"] * samples, "1 process",
                           single["steps_per_second"], "1/s", "higher", layout_model=model)
            report.compare(layout, shape, "activation", record["activation_gb"], "1 process",
                           single["activation_gb"], "GB", "lower", layout_model=model)
    return 0


def run(args) -> int:
    return main(args)


if __name__ == "__main__":
    sys.exit(standalone_main(__name__))
