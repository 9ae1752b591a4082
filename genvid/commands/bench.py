"""genvid bench {tokenizer,tokenizer-budget,dit,lm,lm-attention} ...: each benchmark is a module of genvid.bench with
``HELP``, ``add_arguments(parser)`` and ``run(args)``; a new one is one line in BENCHMARKS."""

import importlib

HELP = "benchmarks against peer models in the same run (JSON lines, one layout: genvid.bench.report)"

#: the name under ``genvid bench`` -> the module that runs it
BENCHMARKS = {
    "tokenizer": "genvid.bench.tokenizer",
    "tokenizer-budget": "genvid.bench.tokenizer_budget",
    "dit": "genvid.bench.dit",
    "lm": "genvid.bench.lm",
    "lm-attention": "genvid.bench.lm_attention",
    "data": "genvid.bench.data",
    "scale": "genvid.bench.scale",
    "memory": "genvid.bench.memory",
}


def add_arguments(parser) -> None:
    subparsers = parser.add_subparsers(dest="benchmark", metavar="WHAT", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)  # benches import torch inside run(): --help stays fast
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(sub)
        sub.set_defaults(_benchmark=module, _options=sub._actions)


# options a bench may set to 0 (everything else numeric counts something and must be >= 1)
MAY_BE_ZERO = {"warmup", "workers", "tile_overlap", "seed", "port", "top_k", "sliding_window"}
# string options that are lists of sizes: "1x3x17x64x64,1x3x33x64x64", "1,8", "13x16x16"
SIZE_LISTS = {"shapes", "latents", "tokens", "batch_sizes"}
# options naming a local file or folder ("pretrained:..." names a shipped one); --config may
# also name a shipped config (genvid configs)
LOCAL_PATHS = {"tokenizer", "folder"}


def check_bench_options(args, actions) -> None:
    """Every bench option a user typed, checked before the bench imports or allocates anything:
    a device that exists here, numbers finite and in range, size lists of positive integers, local
    paths that exist (nothing is ever fetched)."""
    from pathlib import Path

    from genvid.commands.checks import check_number, resolve_device
    from genvid.config import find_config
    from genvid.errors import GenvidError

    for action in actions:
        value = getattr(args, action.dest, None)
        if value is None or isinstance(value, bool) or not action.option_strings:
            continue
        option = action.option_strings[-1]
        if action.dest == "device":
            resolve_device(value, option)
        elif action.dest == "config":
            find_config(value)
        elif isinstance(value, (int, float)):
            bounds = {"minimum": 0} if action.dest in MAY_BE_ZERO else {"above": 0}
            check_number(value, option, **bounds)
        elif action.dest in SIZE_LISTS and isinstance(value, str):
            sizes = [part for item in value.split(",") for part in item.strip().split("x")]
            if not all(size.isdigit() and int(size) > 0 for size in sizes):
                raise GenvidError(f"{option} {value!r}: sizes must be positive whole numbers")
        elif action.dest in LOCAL_PATHS and isinstance(value, str) and not value.startswith("pretrained:"):
            if not Path(value).expanduser().exists():
                raise GenvidError(f"{option} {value}: no such local file or folder (nothing is downloaded)")


def run(args) -> int:
    check_bench_options(args, args._options)
    return args._benchmark.run(args)
