"""genvid train CONFIG [key=value ...] (CONFIG: a YAML path or a shipped name such as dit/tiny)"""

HELP = "train a tokenizer, DiT or LM from a YAML config (works under `accelerate launch` too)"


def add_arguments(parser) -> None:
    parser.add_argument("config", help="a shipped config's name (dit/tiny; `genvid configs` lists them) or a YAML path")
    parser.add_argument("overrides", nargs="*",
                        help="OmegaConf dot-list overrides, e.g. training.max_steps=100 (also after --resume)")
    parser.add_argument(
        "--resume",
        default=None,
        help="'auto' (newest complete checkpoint in training.output_dir, or a fresh start) or a checkpoint folder",
    )


def run(args) -> int:
    import json
    import logging
    import math
    import sys

    from tqdm.contrib.logging import logging_redirect_tqdm

    from genvid.config import load_config
    from genvid.training.loop import train

    config = load_config(args.config, args.overrides)
    # warnings (a skipped file, a skipped step) go above the progress bar, not into its line
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with logging_redirect_tqdm():
        summary = train(config, resume=args.resume)
    loss = summary.get("final_loss")
    if isinstance(loss, float) and not math.isfinite(loss):
        summary["final_loss"] = None  # JSON has no NaN
        print("genvid train: no finite loss in the last step (a run resumed at training.max_steps trains no step; "
              "raise training.max_steps to continue it)", file=sys.stderr)
    print(json.dumps(summary))
    return 0
