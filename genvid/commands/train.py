"""genvid train CONFIG [key=value ...] (CONFIG: a YAML path or a shipped name such as dit/tiny)"""

HELP = "train a tokenizer, DiT or LM from a YAML config (works under `accelerate launch` too)"


def add_arguments(parser) -> None:
    parser.add_argument("config", help="a shipped config's name (dit/tiny; `genvid configs` lists them) or a YAML path")
    parser.add_argument("overrides", nargs="*", help="OmegaConf dot-list overrides, e.g. training.max_steps=100")
    parser.add_argument(
        "--resume",
        default=None,
        help="'auto' (newest complete checkpoint in training.output_dir, or a fresh start) or a checkpoint folder",
    )


def run(args) -> int:
    import json

    from genvid.config import load_config
    from genvid.training.loop import train

    config = load_config(args.config, args.overrides)
    summary = train(config, resume=args.resume)
    print(json.dumps(summary))
    return 0
