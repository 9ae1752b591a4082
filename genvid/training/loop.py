"""The one training loop of genvid. Every model trains through it, by way of a task object.

Runs unchanged on a CPU, one GPU, or many processes launched by ``accelerate launch`` / torchrun
(DDP or DeepSpeed as the accelerate config says; FSDP2 and context parallelism applied by the
loop itself, genvid.training.parallel). What it owns: mixed precision, gradient accumulation,
clipping, warmup + cosine schedule, EMA, NaN/inf step skipping, deterministic data order, atomic
checkpoints and exact resume, logging, previews and the final export. What the task owns: turning
a batch into a loss.

Reading order: :func:`train` (a dozen lines) calls :func:`start_run` (build), :func:`resume_run`,
then per step :func:`train_step` (micro-batches, backward, :func:`apply_update`) and
:func:`after_step` (log, checkpoint, preview, then ``run.step_hooks``), and :func:`finish`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf

from genvid.errors import GenvidError
from genvid.config import ConfigError, build_dataclass, check_keys, constructor_keys, section
from genvid.training.checkpoint import load_checkpoint, resolve_resume, save_checkpoint
from genvid.training.config import TrainingConfig
from genvid.training.data import stream_loader
from genvid.training.ema import ExponentialMovingAverage
from genvid.training.evaluation import evaluator_for
from genvid.training.lora import with_lora
from genvid.training.parallel import fsdp
from genvid.training.parallel.layout import ParallelLayout, attach_context_parallel
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
    return with_lora(task_class(model_config, options, data_config), training.lora), data_config, training


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


@dataclass
class TrainingRun:
    """What the parts of one run share: :func:`start_run` builds it, the step functions advance it."""

    config: DictConfig
    task: Any
    data_config: Any
    training: TrainingConfig
    accelerator: Any
    layout: ParallelLayout
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: ExponentialMovingAverage | None
    output_dir: Path
    tracker: str | None
    start_step: int = 0
    bad_steps: int = 0
    last_loss: float = float("nan")
    metrics: MetricsFile | None = None
    #: whether this run started the process group (then it also ends it); a caller that set one
    #: up itself, to run several trainings in the same processes, keeps it
    owns_process_group: bool = True
    #: ``hook(run, done)`` after every optimizer step, once logging, checkpoint and preview are done:
    #: the place for periodic evaluation, adapter saves and the like (append in start_run)
    step_hooks: list[Callable[["TrainingRun", int], None]] = field(default_factory=list)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def unwrapped(self) -> torch.nn.Module:
        # an FSDP2 module is its own unwrapped self: fully_shard changes the class in place
        return self.model if self.layout.shards_weights else self.accelerator.unwrap_model(self.model)


@dataclass
class StepResult:
    loss: float
    logs: dict[str, float]
    gradient_norm: float | None
    samples: int
    tokens: int


def train(config: DictConfig, resume: str | None = None) -> dict[str, Any]:
    """Run (or resume) the training that ``config`` describes; returns a summary dict."""
    from tqdm.auto import tqdm

    run = start_run(config)
    try:
        resume_run(run, resume)
        batches = training_batches(run)
        metrics = open_outputs(run)
        window = ThroughputWindow()
        progress = tqdm(
            range(run.start_step, run.training.max_steps),
            initial=run.start_step,
            total=run.training.max_steps,
            disable=not run.is_main,
            desc=f"train {config.task}",
        )
        run.model.train()
        for step in progress:
            result = train_step(run, step, batches)
            window.add(result.samples, result.tokens)
            after_step(run, step + 1, result, metrics, window, progress)
        progress.close()
        return finish(run)
    finally:
        end_run(run)


def start_run(config: DictConfig) -> TrainingRun:
    """Validate the config, start the processes' accelerator and build model, optimizer and EMA."""
    from accelerate.utils import set_seed

    task, data_config, training = build_task(config)
    output_dir = Path(training.output_dir)
    owns_process_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    tracker = None if training.report_to in ("none", "", None) else training.report_to
    if tracker == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        tracker = None
    accelerator = make_accelerator(training, tracker, output_dir)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_seed(training.seed)
    layout = ParallelLayout.build(training, accelerator.process_index, accelerator.num_processes)
    model, optimizer = build_model_and_optimizer(task, training, accelerator, layout)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, training))
    task.setup(accelerator.device)
    run = TrainingRun(
        config, task, data_config, training, accelerator, layout, model, optimizer, scheduler, None, output_dir, tracker,
        owns_process_group=owns_process_group,
    )
    if training.ema_decay > 0:
        run.ema = ExponentialMovingAverage(run.unwrapped(), training.ema_decay)
    evaluator = evaluator_for(training)
    if evaluator is not None:
        run.step_hooks.append(periodic_evaluation(evaluator))
    return run


def make_accelerator(training: TrainingConfig, tracker: str | None, output_dir: Path):
    from accelerate import Accelerator

    # Several processes on a machine without GPUs (torchrun, or `accelerate launch --multi_gpu` on
    # a CPU host) must be told to use the CPU, or each process believes it runs alone.
    on_cpu_cluster = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(
        cpu=on_cpu_cluster, mixed_precision=training.mixed_precision, log_with=tracker, project_dir=str(output_dir)
    )
    if training.mixed_precision == "fp16" and accelerator.scaler is None and accelerator.device.type == "cpu":
        # accelerate keeps no loss scaler on a CPU; with one, a CPU fp16 run scales, skips overflowing
        # steps and resumes as a GPU run does (and the tests can check it)
        accelerator.scaler = torch.amp.GradScaler("cpu")
        accelerator.native_amp = True
    return accelerator


def build_model_and_optimizer(task, training: TrainingConfig, accelerator, layout: ParallelLayout):
    """The task's model wrapped for the layout (DDP by accelerate, or FSDP2 shards) and its AdamW.
    Options that change the model itself (adapters) belong before the optimizer is made."""
    model = task.build_model()
    if training.gradient_checkpointing:
        if not hasattr(model, "enable_gradient_checkpointing"):
            raise ConfigError("training.gradient_checkpointing: this model has no enable_gradient_checkpointing()")
        model.enable_gradient_checkpointing()
    attach_context_parallel(model, layout)

    def adamw(module):
        return torch.optim.AdamW(
            [p for p in module.parameters() if p.requires_grad],
            lr=training.learning_rate,
            betas=(training.adam_beta1, training.adam_beta2),
            weight_decay=training.weight_decay,
        )

    if layout.fsdp:
        # the loop shards the model itself (accelerate's FSDP prepare is not used), then builds
        # the optimizer over the sharded parameters
        model = model.to(accelerator.device)
        if layout.shards_weights:
            model = fsdp.shard_model(model, training.mixed_precision)
        optimizer = adamw(model)
    else:
        model, optimizer = accelerator.prepare(model, adamw(model))
    if training.compile:
        model = torch.compile(model)
    return model, optimizer


def resume_run(run: TrainingRun, resume: str | None) -> None:
    checkpoint = resolve_resume(resume, run.output_dir)
    if checkpoint is None:
        if resume and resume != "auto":
            raise ConfigError(f"nothing to resume from: {resume}")
        return
    state = load_checkpoint(run.accelerator, checkpoint, run.model, run.optimizer, run.ema, run.layout)
    run.start_step, run.bad_steps = state["step"], state.get("bad_steps", 0)
    run.scheduler.load_state_dict(state["scheduler"])
    if run.accelerator.scaler is not None and "grad_scaler" in state:
        run.accelerator.scaler.load_state_dict(state["grad_scaler"])
    logger.info(f"resumed from {checkpoint} at step {run.start_step}")


def training_batches(run: TrainingRun):
    """The endless batch stream of this rank's data-parallel slot, from the resumed step on."""
    from genvid.data import build_dataset, collate_videos

    training = run.training
    loader = stream_loader(
        build_dataset(run.data_config),
        collate_videos,
        training.batch_size,
        training.seed,
        run.layout.data_rank,
        run.layout.data_world_size,
        start_micro_batch=run.start_step * training.gradient_accumulation_steps,
        num_workers=training.num_workers,
    )
    return iter(loader)


def open_outputs(run: TrainingRun) -> MetricsFile:
    """The metrics file (cut back to the resumed step), the run's config copy and the trackers."""
    metrics = run.metrics = MetricsFile(run.output_dir / "metrics.jsonl", run.start_step, run.is_main)
    if run.is_main:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        (run.output_dir / "config.yaml").write_text(OmegaConf.to_yaml(run.config))
    if run.tracker:
        run.accelerator.init_trackers(
            "genvid", config={"task": str(run.config.task), "max_steps": run.training.max_steps}
        )
    return metrics


# ---------------------------------------------------------------------------------- one step
def train_step(run: TrainingRun, step: int, batches) -> StepResult:
    """Forward and backward over the step's micro-batches, then one (or a skipped) update."""
    accumulation = run.training.gradient_accumulation_steps
    device = run.accelerator.device
    step_loss = torch.zeros((), device=device)
    logs: dict[str, float] = {}
    samples = tokens = 0
    for micro in range(accumulation):
        seed = step_seed(run.training.seed, step, run.layout.sample_slot(micro))
        torch.manual_seed(seed)
        generator = torch.Generator(device=device).manual_seed(seed)
        batch = next(batches)
        with _gradient_sync(run, micro == accumulation - 1):
            with _autocast(run):
                loss, micro_logs = run.task.training_step(run.model, batch, step, generator)
            run.accelerator.backward(loss * (run.layout.loss_factor / accumulation))
        step_loss += loss.detach().float() / accumulation
        for key, value in micro_logs.items():
            logs[key] = logs.get(key, 0.0) + float(value) / accumulation
        samples += run.task.samples_in_batch(batch) * run.layout.data_world_size
        tokens += run.task.tokens_in_batch(batch) * run.layout.data_world_size
    gradient_norm = _clip_gradients(run)
    apply_update(run, step, step_loss, gradient_norm)
    mean_loss = run.accelerator.reduce(step_loss.reshape(1), reduction="mean").item()
    run.last_loss = mean_loss
    norm = float(gradient_norm) if gradient_norm is not None else None
    return StepResult(mean_loss, logs, norm, samples, tokens)


def _gradient_sync(run: TrainingRun, last_micro: bool):
    if last_micro:
        return contextlib.nullcontext()
    if run.layout.shards_weights:
        return fsdp.gradient_sync(run.model, False)
    return run.accelerator.no_sync(run.model)


def _autocast(run: TrainingRun):
    # under FSDP the mixed precision policy casts the weights; autocast on top would cast twice
    return contextlib.nullcontext() if run.layout.shards_weights else run.accelerator.autocast()


def _clip_gradients(run: TrainingRun) -> torch.Tensor | None:
    max_norm = run.training.max_grad_norm
    if max_norm <= 0:
        return None
    if run.layout.shards_weights:
        return fsdp.full_tensor(torch.nn.utils.clip_grad_norm_(run.parameters, max_norm))
    return run.accelerator.clip_grad_norm_(run.parameters, max_norm)


def _all_ranks(run: TrainingRun, flag: torch.Tensor) -> bool:
    flag = torch.as_tensor(flag, device=run.accelerator.device).float().reshape(1)
    return bool(run.accelerator.reduce(flag, reduction="sum").item() == run.accelerator.num_processes)


def apply_update(run: TrainingRun, step: int, loss: torch.Tensor, gradient_norm: torch.Tensor | None) -> None:
    """The optimizer step, EMA update and schedule step; a non-finite step is skipped by every rank
    together (or DDP ranks would drift apart) and too many of them stop the run."""
    training = run.training
    finite_loss = _all_ranks(run, torch.isfinite(loss))
    scaler = run.accelerator.scaler
    if scaler is not None:
        # fp16: an overflowing gradient is the loss scaler's business (it skips the update and lowers
        # its scale); the step must still reach it so that the scale is updated
        run.optimizer.step()
        stepped = finite_loss and not run.accelerator.optimizer_step_was_skipped
        bad = not finite_loss
    else:
        finite_norm = gradient_norm is None or _all_ranks(run, torch.isfinite(gradient_norm))
        stepped = finite_loss and finite_norm
        if stepped:
            run.optimizer.step()
        bad = not stepped
    if stepped and run.ema is not None and step >= training.ema_start_step:
        run.ema.update(run.unwrapped())
    if bad:
        run.bad_steps += 1
        logger.warning(f"step {step}: non-finite loss or gradient, step skipped ({run.bad_steps}/{training.max_bad_steps})")
        if run.bad_steps >= training.max_bad_steps:
            raise GenvidError(
                f"stopping: {run.bad_steps} steps had a non-finite loss or gradient (training.max_bad_steps)"
            )
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()


# ------------------------------------------------------------------------- between steps
class ThroughputWindow:
    """Samples and tokens since the last logged step, for the per-second figures."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.start, self.samples, self.tokens = time.perf_counter(), 0, 0

    def add(self, samples: int, tokens: int) -> None:
        self.samples += samples
        self.tokens += tokens

    def elapsed(self) -> float:
        return max(time.perf_counter() - self.start, 1e-9)


def after_step(run: TrainingRun, done: int, result: StepResult, metrics: MetricsFile, window, progress) -> None:
    training = run.training
    if done % training.log_every == 0 or done == training.max_steps or done == run.start_step + 1:
        log_step(run, done, result, metrics, window)
        progress.set_postfix(loss=f"{result.loss:.4f}")
    if training.checkpoint_every > 0 and (done % training.checkpoint_every == 0 or done == training.max_steps):
        save_run_checkpoint(run, done)
    if training.preview_every > 0 and done % training.preview_every == 0:
        write_preview(run, done)
    for hook in run.step_hooks:
        hook(run, done)


def log_step(run: TrainingRun, done: int, result: StepResult, metrics: MetricsFile, window: ThroughputWindow) -> None:
    elapsed = window.elapsed()
    record = {
        "step": done,
        "loss": result.loss,
        "learning_rate": run.scheduler.get_last_lr()[0],
        "samples_per_second": window.samples / elapsed,
        "peak_memory_gb": _peak_memory_bytes(run.accelerator.device) / 2**30,
        **result.logs,
    }
    if result.gradient_norm is not None:
        record["gradient_norm"] = result.gradient_norm
    if run.accelerator.scaler is not None:
        record["loss_scale"] = float(run.accelerator.scaler.get_scale())
    if window.tokens:
        record["tokens_per_second"] = window.tokens / elapsed
    if run.training.peak_flops > 0 and hasattr(run.task, "flops_per_sample"):
        record["mfu"] = window.samples * run.task.flops_per_sample() / elapsed / (
            run.training.peak_flops * run.accelerator.num_processes
        )
    metrics.write(record)
    if run.tracker:
        run.accelerator.log(record, step=done)
    window.reset()


def save_run_checkpoint(run: TrainingRun, done: int) -> None:
    trainer_state = {
        "scheduler": run.scheduler.state_dict(),
        "bad_steps": run.bad_steps,
        "config": OmegaConf.to_container(run.config, resolve=True),
    }
    if run.accelerator.scaler is not None:
        trainer_state["grad_scaler"] = run.accelerator.scaler.state_dict()
    save_checkpoint(
        run.accelerator, run.output_dir, done, run.model, run.optimizer, trainer_state, run.ema,
        run.training.keep_last_checkpoints, sharded=run.layout.fsdp,
    )


@contextlib.contextmanager
def evaluation_model(run: TrainingRun, use_ema: bool):
    """The model previews and the export see: unwrapped, in eval mode, with the EMA weights when
    asked. Under FSDP every rank must enter (the weights are gathered); the main rank gets a full
    copy, the others ``None``."""
    if run.layout.shards_weights:
        copy = fsdp.plain_copy(run.task, run.model, run.ema, use_ema, keep=run.is_main)
        yield copy.to(run.accelerator.device).eval() if copy is not None else None
        return
    model = run.unwrapped()
    was_training = model.training
    model.eval()
    try:
        with run.ema.applied(model) if use_ema else contextlib.nullcontext():
            yield model if run.is_main else None
    finally:
        model.train(was_training)


def write_preview(run: TrainingRun, done: int) -> None:
    if not (run.is_main or run.layout.shards_weights):
        return
    preview_dir = run.output_dir / "previews"
    use_ema = run.ema is not None and run.training.export_ema
    with evaluation_model(run, use_ema) as model:
        if model is not None:
            preview_dir.mkdir(parents=True, exist_ok=True)
            generator = torch.Generator(device=run.accelerator.device).manual_seed(run.training.seed)
            run.task.preview(model, done, preview_dir, generator)


def periodic_evaluation(evaluator):
    """A step hook: ``training.eval`` every ``training.eval_every`` steps, logged beside the loss."""

    def evaluate(run: TrainingRun, done: int) -> None:
        if done % run.training.eval_every or not (run.is_main or run.layout.shards_weights):
            return
        with evaluation_model(run, run.ema is not None and run.training.export_ema) as model:
            if model is not None:
                record = {"step": done, **evaluator(run.task, model)}
                run.metrics.write(record)
                if run.tracker:
                    run.accelerator.log(record, step=done)

    return evaluate


def finish(run: TrainingRun) -> dict[str, Any]:
    """The rank checksums, the final export and the summary file."""
    training = run.training
    summary = {"steps": training.max_steps, "final_loss": run.last_loss, "output_dir": str(run.output_dir)}
    if run.accelerator.distributed_type.value != "DEEPSPEED":
        summary["rank_checksums"] = _rank_checksums(run)
    if training.export_on_finish:
        run.accelerator.wait_for_everyone()
        final = run.output_dir / "final"
        with evaluation_model(run, run.ema is not None and training.export_ema) as model:
            if model is not None:
                run.task.export(model, final)
        summary["export"] = str(final)
    if run.is_main:
        (run.output_dir / "train_summary.json").write_text(json.dumps(summary, indent=1))
    run.accelerator.wait_for_everyone()
    return summary


def end_run(run: TrainingRun) -> None:
    """Close the trackers, then the process group. A gloo group left for the interpreter's exit is
    torn down while its threads still run, which killed rank 1 with "terminate called without an
    active exception" at the end of an otherwise good run. Accelerate's process-wide state goes
    with the group, so that a next run in this process (other mixed precision, other group) starts clean."""
    from accelerate.state import AcceleratorState, GradientState

    for tracker in run.accelerator.trackers:
        tracker.finish()
    if run.owns_process_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _rank_checksums(run: TrainingRun) -> list[float]:
    """A checksum of every rank's weights (under FSDP, of its gathered full weights): DDP and FSDP
    must keep them identical; a mismatch is logged."""
    with torch.no_grad():
        total = torch.zeros(1, dtype=torch.float64, device=run.accelerator.device)
        for index, parameter in enumerate(run.unwrapped().parameters()):
            full = fsdp.full_tensor(parameter.detach())
            total += (full.double() * (1 + (index % 7))).sum().to(total.device)
    gathered = run.accelerator.gather(total).tolist()
    if len(set(gathered)) > 1:
        logger.warning(f"ranks ended with different weights: checksums {gathered}")
    return gathered
