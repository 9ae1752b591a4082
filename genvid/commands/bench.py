"""genvid bench {tokenizer,dit,lm} ..."""

from genvid.cli import add_nested_commands, run_nested

HELP = "benchmarks against peer models in the same run (JSON lines)"

BENCHMARKS = {
    "tokenizer": ("genvid.bench.tokenizer", "tokenizer encode/decode frames/s and memory vs AutoencoderKLCogVideoX"),
    "dit": ("genvid.bench.dit", "DiT step time and MFU vs CogVideoXTransformer3DModel"),
    "lm": ("genvid.bench.lm", "LM decode tokens/s and training MFU vs LlamaForCausalLM"),
}


def add_arguments(parser) -> None:
    add_nested_commands(parser, BENCHMARKS, "bench")


def run(args) -> int:
    return run_nested(args)
