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
        sub.set_defaults(_benchmark=module)


def run(args) -> int:
    return args._benchmark.run(args)
