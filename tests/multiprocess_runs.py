"""Several trainings one after another in the processes that torchrun started (each ``train``
sets up and tears down its own process group), so that one multi-process launch serves many
checks: ``torchrun --nproc_per_node 2 tests/multiprocess_runs.py JOBS.json``, where JOBS.json
lists ``{"config": path, "overrides": [...], "resume": null | "auto" | path}``."""

import json
import sys
from pathlib import Path

import torch.distributed as dist

from genvid.config import load_config
from genvid.training.loop import train

def run_jobs(path: str) -> None:
    for job in json.loads(Path(path).read_text()):
        train(load_config(job["config"], job.get("overrides", [])), resume=job.get("resume"))


if __name__ == "__main__":
    # one process group for all the runs: a group torn down and set up again under the same
    # torchrun store would meet the old group's keys
    dist.init_process_group("gloo")
    run_jobs(sys.argv[1])
    dist.barrier()
    dist.destroy_process_group()
