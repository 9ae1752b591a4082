"""The second-order multistep DPM-Solver++ over flow-matching noise levels, in torch and numpy only:
what a saved ``DPMSolverMultistepScheduler`` config with ``use_flow_sigmas`` describes, for the
command line's standalone pipeline (diffusers' class costs seconds of imports, as
:mod:`genvid.pipelines.flow_scheduler` explains for the Euler sampler).

DPM-Solver++ (Lu et al. 2022) integrates the probability-flow ODE in the log signal-to-noise ratio
and reuses the previous step's clean-sample prediction as a second-order correction, so it costs
one transformer evaluation a step as Euler does but loses less at 4-8 steps. Only the configuration
genvid ships is reproduced (flow sigmas with a static shift, ``dpmsolver++``, order 2, midpoint,
``final_sigmas_type="zero"``, no thresholding); :meth:`FlowDPMSolver.from_config` returns None for
any other, and the caller loads diffusers' class. Levels and updates use diffusers 0.42's
arithmetic in its precision, so the sampled latents are equal to the bit
(tests/test_flow_multistep.py compares the two).
"""

from __future__ import annotations

import numpy as np
import torch

from genvid.pipelines.flow_scheduler import levels_at, saved_config

CLASS_NAME = "DPMSolverMultistepScheduler"

#: config values this sampler reproduces exactly (any other value leaves the config to diffusers)
_REQUIRED = {
    "use_flow_sigmas": True, "prediction_type": "flow_prediction", "algorithm_type": "dpmsolver++",
    "solver_order": 2, "solver_type": "midpoint", "lower_order_final": True, "euler_at_final": False,
    "final_sigmas_type": "zero", "thresholding": False, "use_karras_sigmas": False,
    "use_exponential_sigmas": False, "use_beta_sigmas": False, "use_lu_lambdas": False,
    "use_dynamic_shifting": False, "variance_type": None,
}
#: diffusers' defaults where they differ from the values above (a config must say these)
_DIFFUSERS_DEFAULTS = {"use_flow_sigmas": False, "prediction_type": "epsilon"}
#: keys whose values do not change the flow-sigma schedule or its steps
_UNUSED = {"beta_start", "beta_end", "beta_schedule", "trained_betas", "dynamic_thresholding_ratio",
           "sample_max_value", "lambda_min_clipped", "timestep_spacing", "steps_offset",
           "rescale_betas_zero_snr", "time_shift_type"}


class FlowDPMSolver:
    """The sampling calls of a scheduler (``set_timesteps``, ``timesteps``, ``order``,
    ``set_begin_index``, ``step``, ``add_noise``) for DPM-Solver++(2M) on shifted flow levels."""

    order = 1

    def __init__(self, num_train_timesteps: int = 1000, flow_shift: float = 1.0):
        self.config = {"num_train_timesteps": num_train_timesteps, "flow_shift": flow_shift}
        self.num_train_timesteps, self.flow_shift = num_train_timesteps, flow_shift
        self.timesteps = self.sigmas = None
        self.num_inference_steps = None
        self.model_outputs, self.lower_order_nums = [None, None], 0
        self.step_index = self.begin_index = None

    @classmethod
    def from_config(cls, config: dict) -> "FlowDPMSolver | None":
        """The sampler a saved scheduler config describes, or None where it needs diffusers' class."""
        for key in config:
            if not (key.startswith("_") or key in _REQUIRED or key in _UNUSED
                    or key in ("num_train_timesteps", "flow_shift")):
                return None  # an option this sampler does not know
        for key, value in _REQUIRED.items():
            if config.get(key, _DIFFUSERS_DEFAULTS.get(key, value)) != value:
                return None
        return cls(config.get("num_train_timesteps", 1000), config.get("flow_shift", 1.0))

    @classmethod
    def from_folder(cls, folder) -> "FlowDPMSolver | None":
        config = saved_config(folder, CLASS_NAME)
        return None if config is None else cls.from_config(config)

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """``num_inference_steps`` flow levels (1 - evenly spaced signal levels, shifted; the level 0
        left out), then a final 0; integer timesteps = level x num_train_timesteps, truncated."""
        signal = np.linspace(1, 1 / self.num_train_timesteps, num_inference_steps + 1)
        levels = 1.0 - signal
        levels = np.flip(self.flow_shift * levels / (1 + (self.flow_shift - 1) * levels))[:-1].copy()
        timesteps = (levels * self.num_train_timesteps).copy()
        self.sigmas = torch.from_numpy(np.concatenate([levels, [0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(timesteps).to(device=device, dtype=torch.int64)
        self.num_inference_steps = len(timesteps)
        self.model_outputs, self.lower_order_nums = [None, None], 0
        self.step_index = self.begin_index = None

    def set_begin_index(self, begin_index: int = 0) -> None:
        self.begin_index = begin_index

    def _index_of(self, timestep, schedule: torch.Tensor | None = None) -> int:
        schedule = self.timesteps if schedule is None else schedule
        matches = (schedule == timestep).nonzero()
        if len(matches) == 0:
            return len(self.timesteps) - 1
        # a level listed twice: the second one (diffusers' rule, for schedules resumed midway)
        return int(matches[1 if len(matches) > 1 else 0].item())

    @staticmethod
    def _log_ratio(level: torch.Tensor) -> torch.Tensor:
        # lambda = log(alpha / sigma) with alpha = 1 - sigma on flow levels (+inf at level 0)
        return torch.log(1 - level) - torch.log(level)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, return_dict: bool = False):
        """One step from ``timestep``'s level: first order at the first and the last step (the last
        lands on level 0), second order in between."""
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if self.step_index is None:
            if self.begin_index is not None:
                self.step_index = self.begin_index
            else:
                self.step_index = self._index_of(timestep.to(self.timesteps.device) if torch.is_tensor(timestep)
                                                 else timestep)
        index = self.step_index
        final = index == len(self.timesteps) - 1
        clean = sample - self.sigmas[index] * model_output  # the clean-sample prediction of a velocity
        self.model_outputs = [self.model_outputs[1], clean]
        sample = sample.to(torch.float32)
        target, current = self.sigmas[index + 1], self.sigmas[index]
        alpha_target = 1 - target
        step_size = self._log_ratio(target) - self._log_ratio(current)
        first = (target / current) * sample - (alpha_target * (torch.exp(-step_size) - 1.0)) * clean
        if self.lower_order_nums < 1 or final:
            previous = first
        else:
            earlier = self.sigmas[index - 1]
            ratio = (self._log_ratio(current) - self._log_ratio(earlier)) / step_size
            correction = (1.0 / ratio) * (clean - self.model_outputs[0])
            previous = first - 0.5 * (alpha_target * (torch.exp(-step_size) - 1.0)) * correction
        if self.lower_order_nums < 2:
            self.lower_order_nums += 1
        self.step_index += 1
        return (previous.to(model_output.dtype),)

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The forward process at ``timesteps``' levels: ``(1 - level) * sample + level * noise``."""
        level = levels_at(self, timesteps, original_samples)
        return (1 - level) * original_samples + level * noise
