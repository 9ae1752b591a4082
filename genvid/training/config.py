"""The ``training:`` section of a config: what the one loop needs to run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainingConfig:
    output_dir: str = "runs/experiment"
    max_steps: int = 1000
    #: samples per process per micro-step
    batch_size: int = 8
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    warmup_steps: int = 100
    #: "cosine" (to min_learning_rate_ratio * learning_rate) or "constant"
    lr_schedule: str = "cosine"
    min_learning_rate_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    #: "no", "fp16" or "bf16"
    mixed_precision: str = "no"
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep_last_checkpoints: int = 3
    #: 0 = no previews
    preview_every: int = 0
    #: 0 = no EMA; else the decay of the exponential moving average of the weights
    ema_decay: float = 0.0
    ema_start_step: int = 0
    num_workers: int = 0
    #: a NaN/inf loss skips its step; this many such steps stop the run
    max_bad_steps: int = 10
    gradient_checkpointing: bool = False
    #: wrap the model in torch.compile
    compile: bool = False
    #: "tensorboard", "none" or another accelerate tracker name
    report_to: str = "tensorboard"
    #: write the task's export (a save_pretrained folder) to output_dir/final at the end
    export_on_finish: bool = True
    #: use the EMA weights for previews and the final export when EMA is on
    export_ema: bool = True
    #: peak FLOP/s of one device, for MFU in the logs (0 = not reported)
    peak_flops: float = 0.0
    #: run ``eval`` every this many steps and log its figures (0 = never); see genvid.training.evaluation
    eval_every: int = 0
    #: which evaluation: keys of genvid.training.evaluation.EvaluationOptions (kind: tokenizer | prompts, ...)
    eval: dict = field(default_factory=dict)
    #: shard weights, gradients and optimizer state over the processes (FSDP2, one unit per model
    #: block) and write sharded checkpoints; also on when `accelerate launch` runs an FSDP config
    fsdp: bool = False
    #: split each clip's sequence over this many processes (the DiT); the processes form groups of
    #: this size that share one batch, so the data-parallel size is processes / context_parallel
    context_parallel: int = 1
    #: train a LoRA adapter instead of the model: {rank, alpha, dropout, target_modules}
    #: (genvid.training.lora); None = full training
    lora: dict | None = None

    def __post_init__(self):
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"training.mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"training.lr_schedule must be cosine or constant, got {self.lr_schedule!r}")
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"training.{name} must be >= 1, got {getattr(self, name)}")
        if self.context_parallel < 1:
            raise ValueError(f"training.context_parallel must be >= 1, got {self.context_parallel}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"training.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.eval_every > 0 or self.eval:
            from genvid.training.evaluation import evaluation_options

            evaluation_options(self.eval or {})  # a typo in training.eval fails before training starts
