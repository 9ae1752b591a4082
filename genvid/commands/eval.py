"""genvid eval {tokenizer,prompts} ..."""

from genvid.cli import add_nested_commands, run_nested

HELP = "evaluate: a tokenizer's reconstructions, or a generator's prompt following"

EVALUATIONS = {
    "tokenizer": ("genvid.eval.tokenizer_eval", "PSNR / SSIM (and codebook usage) of a tokenizer on videos"),
    "prompts": ("genvid.eval.prompts_eval", "prompt-following accuracy of a pipeline on the synthetic vocabulary"),
}


def add_arguments(parser) -> None:
    add_nested_commands(parser, EVALUATIONS, "eval")


def run(args) -> int:
    return run_nested(args)
