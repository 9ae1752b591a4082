"""genvid export CHECKPOINT --output DIR"""

HELP = "write a save_pretrained model or pipeline from a training checkpoint (EMA weights by default)"


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint folder (runs/x/checkpoints/step_00001000) or a run folder (newest)")
    parser.add_argument("--output", "-o", required=True, help="folder to write (must not exist, or be empty)")
    parser.add_argument("--no-ema", action="store_true", help="export the raw weights even when EMA weights exist")


def run(args) -> int:
    from pathlib import Path

    from genvid.training.export import export_checkpoint

    path = export_checkpoint(Path(args.checkpoint), Path(args.output), use_ema=not args.no_ema)
    print(path)
    return 0
