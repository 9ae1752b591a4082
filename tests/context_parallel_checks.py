"""Context parallel x2 against one process, run by tests/test_context_parallel.py under
``torchrun --nproc_per_node 2``: every rank computes the one-process reference itself, then the
same with the tokens split over both ranks, and rank 0 writes the differences to OUT.json.
``context_parallel_checks.py OUT.json [JOBS.json]``: then the trainings of JOBS.json (as
tests/multiprocess_runs.py runs them), in the same launch."""

import json
import sys

import torch
import torch.distributed as dist

from genvid.data import DataConfig
from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask

TOKENIZER = dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1, num_mid_blocks=1)
MODEL = dict(in_channels=4, hidden_size=32, num_layers=2, num_heads=2, text_hidden_size=384)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def forward_and_gradients(model, inputs):
    model.zero_grad(set_to_none=True)
    velocity = model(*inputs, return_dict=False)[0]
    # a loss that weighs every output element differently, so no gradient can cancel
    weights = torch.linspace(-1, 1, velocity.numel()).reshape(velocity.shape)
    (velocity * weights).sum().backward()
    return velocity.detach(), {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def model_checks(task) -> dict:
    torch.manual_seed(0)
    model = task.build_model()
    for parameter in model.parameters():  # AdaLN-zero starts at zero: give every path a gradient
        torch.nn.init.normal_(parameter, std=0.2)
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(1, 4, 4, 4, 4, generator=generator)  # 4 latent frames of 2x2 patches: 16 tokens
    text = torch.randn(1, 8, 384, generator=generator)
    text_mask = torch.ones(1, 8, dtype=torch.bool)
    text_mask[0, 5:] = False
    results = {}
    timesteps = {
        "scalar_timestep": torch.tensor([500.0]),
        "per_frame_timestep": torch.tensor([[0.0, 300.0, 600.0, 900.0]]),  # 4 frames: 2 a rank
        "per_frame_timestep_split_inside_a_frame": torch.tensor([[0.0, 300.0, 600.0]]),  # 3 frames of 4 tokens
    }
    for name, timestep in timesteps.items():
        frames = timestep.shape[-1] if timestep.ndim == 2 else 4
        inputs = (latents[:, :, :frames], timestep, text, text_mask)
        model.disable_context_parallel()
        reference, reference_grads = forward_and_gradients(model, inputs)
        model.enable_context_parallel()
        output, grads = forward_and_gradients(model, inputs)
        for gradient in grads.values():
            dist.all_reduce(gradient)  # what DDP sums over the context group
        results[name] = {
            "output": relative(output, reference),
            "worst_gradient": max(relative(grads[key], reference_grads[key]) for key in grads),
            "gradients": len(grads),
        }
    model.disable_context_parallel()
    return results


def pipeline_check(task) -> dict:
    torch.manual_seed(0)
    model = task.build_model()
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    pipeline = task.pipeline(model)
    pipeline.set_progress_bar_config(disable=True)

    def generate():
        return pipeline(["a red circle moving right"], num_frames=9, height=16, width=16, num_inference_steps=3,
                        guidance_scale=2.0, generator=torch.Generator().manual_seed(7), output_type="pt").frames

    single = generate()
    model.enable_context_parallel()
    split = generate()
    return {"video": float((split - single).abs().max()), "video_shape": list(split.shape)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    task = DiffusionTask(MODEL, DiffusionOptions(tokenizer_config=TOKENIZER, text_max_length=8),
                         DataConfig(num_frames=9, height=16, width=16))
    task.setup(torch.device("cpu"))
    results = {"model": model_checks(task), "pipeline": pipeline_check(task)}
    if dist.get_rank() == 0:
        with open(sys.argv[1], "w") as handle:
            json.dump(results, handle)
    if len(sys.argv) > 2:
        from multiprocess_runs import run_jobs

        run_jobs(sys.argv[2])
    dist.barrier()
    dist.destroy_process_group()
