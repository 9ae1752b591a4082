import torch
from diffusers import DPMSolverMultistepScheduler

from genvid.pipelines.flow_multistep import FlowDPMSolver
from genvid.pipelines.flow_scheduler import sampler_shift, with_shift


def _diffusers(shift):
    return DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=shift,
                                       final_sigmas_type="zero")


def test_standalone_dpm_solver_equals_diffusers_to_the_bit():
    # levels, integer timesteps, the multistep updates (first order at both ends, second in
    # between) and the forward noising of video-to-video, at several shifts and step counts
    generator = torch.Generator().manual_seed(0)
    for shift in (1.0, 3.0):
        config = dict(_diffusers(shift).config)
        theirs, ours = DPMSolverMultistepScheduler.from_config(config), FlowDPMSolver.from_config(config)
        for steps in (1, 2, 4, 8, 30):
            for begin in (None, steps // 2):
                theirs.set_timesteps(steps, device="cpu")
                ours.set_timesteps(steps, device="cpu")
                assert torch.equal(ours.timesteps, theirs.timesteps) and torch.equal(ours.sigmas, theirs.sigmas)
                timesteps = theirs.timesteps
                clean = torch.randn(2, 4, 2, 4, 4, generator=generator)
                noise = torch.randn(clean.shape, generator=generator)
                if begin is not None:
                    theirs.set_begin_index(begin)
                    ours.set_begin_index(begin)
                    timesteps = timesteps[begin:]
                    expected = theirs.add_noise(clean, noise, timesteps[:1])
                    sample = ours.add_noise(clean, noise, timesteps[:1])
                    assert torch.equal(sample, expected)
                else:
                    sample, expected = noise.clone(), noise.clone()
                for timestep in timesteps:
                    velocity = torch.randn(sample.shape, generator=generator)
                    expected = theirs.step(velocity, timestep, expected, return_dict=False)[0]
                    sample = ours.step(velocity, timestep, sample)[0]
                    assert torch.equal(sample, expected)


def test_dpm_solver_is_more_exact_than_euler_at_few_steps():
    # data x0 ~ N(0, s^2): the flow ODE's velocity is known in closed form, (x - E[x0 | x_t]) / t,
    # and so is its end point (x scaled by s / sqrt((1 - t)^2 s^2 + t^2) from level t to 0); at the
    # same number of evaluations the second-order update lands nearer it than Euler (measured:
    # 8 steps at shift 1, 0.033 against 0.192 of the mean size; 4 at shift 3, 0.568 against 0.680)
    from genvid.pipelines.flow_scheduler import FlowMatchEuler

    spread = 0.5

    def velocity(x, level):
        clean = (1 - level) * spread**2 * x / ((1 - level) ** 2 * spread**2 + level**2)
        return (x - clean) / level

    def error(scheduler, steps):
        scheduler.set_timesteps(steps)
        start = torch.randn(256, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        first = scheduler.sigmas[0].double()
        exact = start * spread / torch.sqrt((1 - first) ** 2 * spread**2 + first**2)
        x = start
        for timestep, level in zip(scheduler.timesteps, scheduler.sigmas):
            x = scheduler.step(velocity(x, level.double()), timestep, x)[0].double()
        return (x - exact).abs().mean() / exact.abs().mean()

    assert error(FlowDPMSolver(flow_shift=1.0), 8) < 0.3 * error(FlowMatchEuler(shift=1.0), 8)
    assert error(FlowDPMSolver(flow_shift=3.0), 4) < 0.9 * error(FlowMatchEuler(shift=3.0), 4)


def test_configs_outside_the_reproduced_set_are_left_to_diffusers():
    config = dict(_diffusers(3.0).config)
    assert FlowDPMSolver.from_config(config) is not None
    for change in ({"solver_order": 3}, {"use_flow_sigmas": False}, {"use_karras_sigmas": True},
                   {"final_sigmas_type": "sigma_min"}, {"a_future_option": 1}):
        assert FlowDPMSolver.from_config(dict(config, **change)) is None, change
    minimal = {"use_flow_sigmas": True, "prediction_type": "flow_prediction", "flow_shift": 2.0}
    assert FlowDPMSolver.from_config(minimal).flow_shift == 2.0
    assert FlowDPMSolver.from_config({"flow_shift": 2.0}) is None  # diffusers' default is not flow


def test_shift_is_read_and_set_on_either_sampler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    for scheduler in (FlowMatchEulerDiscreteScheduler(shift=3.0), _diffusers(3.0)):
        assert sampler_shift(scheduler) == 3.0
        moved = with_shift(scheduler, 2.0)
        assert type(moved) is type(scheduler) and sampler_shift(moved) == 2.0 and sampler_shift(scheduler) == 3.0
