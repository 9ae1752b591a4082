"""The one training loop of genvid. Every model trains through it, by way of a task object.

Runs unchanged on a CPU, one GPU, or many processes launched by ``accelerate launch`` / torchrun
(DDP, FSDP or DeepSpeed, as the accelerate config says). What it owns: mixed precision,
gradient accumulation, clipping, warmup + cosine schedule, EMA, NaN/inf step skipping,
deterministic data order, atomic checkpoints and exact resume, logging, previews and the final
export. What the task owns: turning a batch into a loss.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from genvid.errors import GenvidError
from genvid.config import ConfigError, build_dataclass, check_keys, constructor_keys, section
from genvid.training.checkpoint import load_checkpoint, resolve_resume, save_checkpoint
from genvid.training.config import TrainingConfig
from genvid.training.data import stream_loader
from genvid.training.ema import ExponentialMovingAverage
from genvid.training.evaluation import evaluator_for
from genvid.training.tasks import get_task_class

logger = logging.getLogger("genvid.training")


def resolve_task_class(name: str):
    """A registered task name, or ``package.module:ClassName`` for a task of your own."""
    if ":" in name:
        module_name, class_name = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"cannot import task {name!r}: {error}") from None
    return get_task_class(name)


def build_task(config: DictConfig):
    """Validate every section of ``config`` against what it mirrors and build the task."""
    from genvid.data import DataConfig

    if not config.get("task"):
        raise ConfigError("the config has no 'task:' (one of tokenizer, dit, lm)")
    task_class = resolve_task_class(str(config.task))
    model_config = section(config, "model")
    if task_class.model_class is not None:
        check_keys(model_config, constructor_keys(task_class.model_class), "model")
    options = (
        build_dataclass(task_class.options_class, section(config, "task_options"), "task_options")
        if task_class.options_class is not None
        else None
    )
    data_config = build_dataclass(DataConfig, section(config, "data"), "data")
    training = build_dataclass(TrainingConfig, section(config, "training"), "training")
    return task_class(model_config, options, data_config), data_config, training


def learning_rate_factor(step: int, training: TrainingConfig) -> float:
    if training.warmup_steps > 0 and step < training.warmup_steps:
        return (step + 1) / training.warmup_steps
    if training.lr_schedule == "constant":
        return 1.0
    span = max(1, training.max_steps - training.warmup_steps)
    progress = min(1.0, (step - training.warmup_steps) / span)
    floor = training.min_learning_rate_ratio
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


def _peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    # ru_maxrss is in KiB on Linux: the process's peak resident memory
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MetricsFile:
    """``metrics.jsonl``: one line per logged step, truncated on resume to the resumed step."""

    def __init__(self, path: Path, resume_step: int, enabled: bool):
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step > 0 and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    break  # a line cut by a kill
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")


def train(config: DictConfig, resume: str | None = None) -> dict[str, Any]:
    """Run (or resume) the training that ``config`` describes; returns a summary dict."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from genvid.data import build_dataset, collate_videos

    task, data_config, training = build_task(config)
    output_dir = Path(training.output_dir)
    tracker = None if training.report_to in ("none", "", None) else training.report_to
    if tracker == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        tracker = None
    # Several processes on a machine without GPUs (torchrun, or `accelerate launch --multi_gpu` on
    # a CPU host) must be told to use the CPU, or each process believes it runs alone.
    on_cpu_cluster = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(
        cpu=on_cpu_cluster,
        mixed_precision=training.mixed_precision,
        log_with=tracker,
        project_dir=str(output_dir),
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_seed(training.seed)
    device = accelerator.device

    model = task.build_model()
    if training.gradient_checkpointing:
        if not hasattr(model, "enable_gradient_checkpointing"):
            raise ConfigError("training.gradient_checkpointing: this model has no enable_gradient_checkpointing()")
        model.enable_gradient_checkpointing()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters,
        lr=training.learning_rate,
        betas=(training.adam_beta1, training.adam_beta2),
        weight_decay=training.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, training))
    model, optimizer = accelerator.prepare(model, optimizer)
    parameters = [p for p in model.parameters() if p.requires_grad]  # FSDP replaces them in prepare
    if training.compile:
        model = torch.compile(model)
    task.setup(device)
    ema = ExponentialMovingAverage(accelerator.unwrap_model(model), training.ema_decay) if training.ema_decay > 0 else None

    start_step, bad_steps = 0, 0
    checkpoint = resolve_resume(resume, output_dir)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint, model, optimizer, ema)
        start_step, bad_steps = state["step"], state.get("bad_steps", 0)
        scheduler.load_state_dict(state["scheduler"])
        logger.info(f"resumed from {checkpoint} at step {start_step}")
    elif resume and resume != "auto":
        raise ConfigError(f"nothing to resume from: {resume}")

    dataset = build_dataset(data_config)
    accumulation = training.gradient_accumulation_steps
    loader = stream_loader(
        dataset,
        collate_videos,
        training.batch_size,
        training.seed,
        accelerator.process_index,
        accelerator.num_processes,
        start_micro_batch=start_step * accumulation,
        num_workers=training.num_workers,
    )
    batches = iter(loader)
    metrics = MetricsFile(output_dir / "metrics.jsonl", start_step, accelerator.is_main_process)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))
    if tracker:
        accelerator.init_trackers("genvid", config={"task": str(config.task), "max_steps": training.max_steps})

    config_container = OmegaConf.to_container(config, resolve=True)
    progress = tqdm(
        range(start_step, training.max_steps),
        initial=start_step,
        total=training.max_steps,
        disable=not accelerator.is_main_process,
        desc=f"train {config.task}",
    )
    evaluator = evaluator_for(training)
    window_start, window_samples, window_tokens = time.perf_counter(), 0, 0
    last_loss = float("nan")
    model.train()
    for step in progress:
        torch.manual_seed(step_seed(training.seed, step, accelerator.process_index))
        generator = torch.Generator(device=device).manual_seed(step_seed(training.seed, step, accelerator.process_index))
        step_loss = torch.zeros((), device=device)
        logs: dict[str, float] = {}
        for micro in range(accumulation):
            batch = next(batches)
            last_micro = micro == accumulation - 1
            sync_context = accelerator.no_sync(model) if not last_micro and accumulation > 1 else _null_context()
            with sync_context, accelerator.autocast():
                loss, micro_logs = task.training_step(model, batch, step, generator)
            accelerator.backward(loss / accumulation)
            step_loss += loss.detach().float() / accumulation
            for key, value in micro_logs.items():
                logs[key] = logs.get(key, 0.0) + float(value) / accumulation
            window_samples += task.samples_in_batch(batch) * accelerator.num_processes
            window_tokens += task.tokens_in_batch(batch) * accelerator.num_processes
        gradient_norm = accelerator.clip_grad_norm_(parameters, training.max_grad_norm) if training.max_grad_norm > 0 else None
        finite = torch.isfinite(step_loss) & (torch.isfinite(gradient_norm) if gradient_norm is not None else True)
        # Every rank must agree to skip, or DDP ranks would drift apart.
        all_finite = bool(accelerator.reduce(finite.float().reshape(1), reduction="sum").item() == accelerator.num_processes)
        if all_finite:
            optimizer.step()
            if ema is not None and step >= training.ema_start_step:
                ema.update(accelerator.unwrap_model(model))
        else:
            bad_steps += 1
            logger.warning(f"step {step}: non-finite loss or gradient, step skipped ({bad_steps}/{training.max_bad_steps})")
            if bad_steps >= training.max_bad_steps:
                raise GenvidError(
                    f"stopping: {bad_steps} steps had a non-finite loss or gradient (training.max_bad_steps)"
                )
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        done = step + 1

        mean_loss = accelerator.reduce(step_loss.reshape(1), reduction="mean").item()
        last_loss = mean_loss
        if done % training.log_every == 0 or done == training.max_steps or done == start_step + 1:
            elapsed = max(time.perf_counter() - window_start, 1e-9)
            record = {
                "step": done,
                "loss": mean_loss,
                "learning_rate": scheduler.get_last_lr()[0],
                "samples_per_second": window_samples / elapsed,
                "peak_memory_gb": _peak_memory_bytes(device) / 2**30,
                **logs,
            }
            if gradient_norm is not None:
                record["gradient_norm"] = float(gradient_norm)
            if window_tokens:
                record["tokens_per_second"] = window_tokens / elapsed
            if training.peak_flops > 0 and hasattr(task, "flops_per_sample"):
                record["mfu"] = window_samples * task.flops_per_sample() / elapsed / (
                    training.peak_flops * accelerator.num_processes
                )
            metrics.write(record)
            if tracker:
                accelerator.log(record, step=done)
            progress.set_postfix(loss=f"{mean_loss:.4f}")
            window_start, window_samples, window_tokens = time.perf_counter(), 0, 0
        if training.checkpoint_every > 0 and (done % training.checkpoint_every == 0 or done == training.max_steps):
            trainer_state = {"scheduler": scheduler.state_dict(), "bad_steps": bad_steps, "config": config_container}
            save_checkpoint(
                accelerator, output_dir, done, model, optimizer, trainer_state, ema, training.keep_last_checkpoints
            )
        if training.preview_every > 0 and done % training.preview_every == 0 and accelerator.is_main_process:
            _preview(task, accelerator, model, ema, training, done, output_dir)
        if evaluator is not None and done % training.eval_every == 0 and accelerator.is_main_process:
            record = {"step": done, **evaluator(task, accelerator.unwrap_model(model), ema, training.export_ema)}
            metrics.write(record)
            if tracker:
                accelerator.log(record, step=done)

    summary = {"steps": training.max_steps, "final_loss": last_loss, "output_dir": str(output_dir)}
    if accelerator.distributed_type.value not in ("FSDP", "DEEPSPEED"):
        summary["rank_checksums"] = _rank_checksums(accelerator, model)
    if training.export_on_finish:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            final = output_dir / "final"
            unwrapped = accelerator.unwrap_model(model)
            unwrapped.eval()
            if ema is not None and training.export_ema:
                with ema.applied(unwrapped):
                    task.export(unwrapped, final)
            else:
                task.export(unwrapped, final)
            summary["export"] = str(final)
    if accelerator.is_main_process:
        (output_dir / "train_summary.json").write_text(json.dumps(summary, indent=1))
    if tracker:
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return summary


def _preview(task, accelerator, model, ema, training, step, output_dir) -> None:
    unwrapped = accelerator.unwrap_model(model)
    generator = torch.Generator(device=accelerator.device).manual_seed(training.seed)
    preview_dir = output_dir / "previews"
    preview_dir.mkdir(parents=True, exist_ok=True)
    was_training = unwrapped.training
    unwrapped.eval()
    try:
        if ema is not None and training.export_ema:
            with ema.applied(unwrapped):
                task.preview(unwrapped, step, preview_dir, generator)
        else:
            task.preview(unwrapped, step, preview_dir, generator)
    finally:
        unwrapped.train(was_training)


def _rank_checksums(accelerator, model) -> list[float]:
    """A checksum of every rank's weights: DDP must keep them identical; a mismatch is logged."""
    with torch.no_grad():
        total = torch.zeros(1, dtype=torch.float64, device=accelerator.device)
        for index, parameter in enumerate(accelerator.unwrap_model(model).parameters()):
            total += (parameter.detach().double() * (1 + (index % 7))).sum()
    gathered = accelerator.gather(total).tolist()
    if len(set(gathered)) > 1:
        logger.warning(f"ranks ended with different weights: checksums {gathered}")
    return gathered


class _null_context:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
