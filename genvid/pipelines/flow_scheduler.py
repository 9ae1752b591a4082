"""The flow-matching Euler sampler of a saved ``FlowMatchEulerDiscreteScheduler`` config, in torch
and numpy only, for the command line's standalone pipeline (importing diffusers' scheduler imports
diffusers' utilities, ``torch._dynamo`` and scipy: seconds of every ``genvid generate``).

Only the static-shift schedule genvid trains and samples with is reproduced (no dynamic or
terminal shift, no Karras / exponential / beta spacing, no inverted or stochastic sampling);
:meth:`FlowMatchEuler.from_config` returns None for any other config, and the caller loads diffusers'
class. The levels and steps are computed with the same arithmetic in the same precision as
diffusers 0.42 (float32 training levels, float64 inference spacing), so the sampled latents are
equal to the bit (tests/test_dit_pipeline.py compares the two).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

#: config values the standalone sampler reproduces (a saved config with others is left to diffusers)
_PLAIN_VALUES = {
    "use_dynamic_shifting": False, "invert_sigmas": False, "shift_terminal": None, "use_karras_sigmas": False,
    "use_exponential_sigmas": False, "use_beta_sigmas": False, "stochastic_sampling": False,
}
_OTHER_KEYS = {"num_train_timesteps", "shift", "base_shift", "max_shift", "base_image_seq_len", "max_image_seq_len",
               "time_shift_type"}


class FlowMatchEuler:
    """Euler steps of the rectified-flow ODE over shifted noise levels: what the diffusion sampling
    calls of a scheduler (``set_timesteps``, ``timesteps``, ``order``, ``set_begin_index``, ``step``,
    ``scale_noise``)."""

    order = 1

    def __init__(self, num_train_timesteps: int = 1000, shift: float = 1.0):
        self.config = {"num_train_timesteps": num_train_timesteps, "shift": shift}
        self.num_train_timesteps, self.shift = num_train_timesteps, shift
        levels = np.linspace(1, num_train_timesteps, num_train_timesteps, dtype=np.float32)[::-1].copy()
        levels = torch.from_numpy(levels) / num_train_timesteps
        levels = self._shifted(levels)
        self.sigmas = levels
        self.timesteps = levels * num_train_timesteps
        # the ends of the training schedule bound every inference schedule
        self.sigma_min, self.sigma_max = levels[-1].item(), levels[0].item()
        self.step_index = self.begin_index = None

    @classmethod
    def from_config(cls, config: dict) -> "FlowMatchEuler | None":
        """The sampler a saved scheduler config describes, or None where it needs diffusers' class."""
        for key, value in config.items():
            if key.startswith("_"):
                continue
            if key in _PLAIN_VALUES:
                if value != _PLAIN_VALUES[key]:
                    return None
            elif key not in _OTHER_KEYS:
                return None
        return cls(config.get("num_train_timesteps", 1000), config.get("shift", 1.0))

    @classmethod
    def from_folder(cls, folder) -> "FlowMatchEuler | None":
        config = saved_config(folder, "FlowMatchEulerDiscreteScheduler")
        return None if config is None else cls.from_config(config)

    def _shifted(self, levels):
        # the static shift: more steps at high noise for shift > 1
        return self.shift * levels / (1 + (self.shift - 1) * levels)

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """``num_inference_steps`` levels evenly spaced between the training schedule's ends, shifted
        once more (as diffusers does), then a final level 0."""
        spaced = np.linspace(self.sigma_max * self.num_train_timesteps, self.sigma_min * self.num_train_timesteps,
                             num_inference_steps)
        levels = torch.from_numpy(self._shifted(spaced / self.num_train_timesteps)).to(dtype=torch.float32, device=device)
        self.timesteps = levels * self.num_train_timesteps
        self.sigmas = torch.cat([levels, torch.zeros(1, device=levels.device)])
        self.num_inference_steps = num_inference_steps
        self.step_index = self.begin_index = None

    def set_begin_index(self, begin_index: int = 0) -> None:
        self.begin_index = begin_index

    def _index_of(self, timestep, schedule: torch.Tensor | None = None) -> int:
        schedule = self.timesteps if schedule is None else schedule
        if torch.is_tensor(timestep):
            timestep = timestep.to(schedule.device)
        matches = (schedule == timestep).nonzero()
        # a level listed twice: the second one (diffusers' rule, for schedules resumed midway)
        return int(matches[1 if len(matches) > 1 else 0].item())

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, return_dict: bool = False):
        """One Euler step from ``timestep``'s level to the next: ``sample + (next - level) * velocity``."""
        if isinstance(timestep, int) or (torch.is_tensor(timestep) and not timestep.is_floating_point()):
            raise ValueError("step() takes one of scheduler.timesteps, not an integer index")
        if self.step_index is None:
            self.step_index = self.begin_index if self.begin_index is not None else self._index_of(timestep)
        level, following = self.sigmas[self.step_index], self.sigmas[self.step_index + 1]
        previous = (sample.to(torch.float32) + (following - level) * model_output).to(model_output.dtype)
        self.step_index += 1
        return (previous,)

    def scale_noise(self, sample: torch.Tensor, timestep: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The forward process at ``timestep``'s level: ``level * noise + (1 - level) * sample``."""
        level = levels_at(self, timestep, sample)
        return level * noise + (1.0 - level) * sample


def saved_config(folder, class_name: str) -> dict | None:
    """The ``scheduler_config.json`` in ``folder`` when it names ``class_name``, else None."""
    path = Path(folder) / "scheduler_config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    return config if config.get("_class_name") == class_name else None


def levels_at(scheduler, timesteps: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """The noise level of each of ``timesteps`` on ``scheduler``'s schedule, shaped to broadcast over
    ``sample`` (diffusers' rule: the begin index once set, else each timestep looked up)."""
    levels = scheduler.sigmas.to(device=sample.device, dtype=sample.dtype)
    if scheduler.begin_index is None:
        schedule = scheduler.timesteps.to(sample.device)
        indices = [scheduler._index_of(value, schedule) for value in timesteps.to(sample.device)]
    else:
        at = scheduler.step_index if scheduler.step_index is not None else scheduler.begin_index
        indices = [at] * timesteps.shape[0]
    level = levels[indices].flatten()
    return level.reshape(level.shape + (1,) * (sample.ndim - 1))


def _shift_key(scheduler) -> str:
    # FlowMatchEulerDiscreteScheduler says "shift", DPMSolverMultistepScheduler on flow levels "flow_shift"
    return "flow_shift" if "flow_shift" in scheduler.config else "shift"


def sampler_shift(scheduler) -> float:
    """The static shift of a flow-matching sampler's noise levels, whichever class it is."""
    return float(scheduler.config.get(_shift_key(scheduler), 1.0))


def with_shift(scheduler, shift: float):
    """A new scheduler of the same class and config but for its shift."""
    return type(scheduler).from_config(scheduler.config, **{_shift_key(scheduler): shift})


#: the samplers a trained DiT pipeline can be exported with (task_options.sampler)
SAMPLERS = ("euler", "dpm_solver")


def diffusers_sampler(name: str, shift: float):
    """diffusers' scheduler for a sampler name: ``euler`` (FlowMatchEulerDiscreteScheduler) or
    ``dpm_solver`` (DPMSolverMultistepScheduler: DPM-Solver++(2M) on the same shifted flow levels,
    one evaluation a step and second order, so it loses less at 4-8 steps)."""
    if name == "euler":
        from diffusers import FlowMatchEulerDiscreteScheduler

        return FlowMatchEulerDiscreteScheduler(shift=shift)
    if name == "dpm_solver":
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=shift,
                                           final_sigmas_type="zero")
    raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
