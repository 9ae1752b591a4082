"""The ``genvid`` command line.

Each subcommand lives in ``genvid/commands/<name>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules import torch and models inside ``run``
so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "dataset": "genvid.commands.dataset",
    "train": "genvid.commands.train",
    "generate": "genvid.commands.generate",
    "encode": "genvid.commands.encode",
    "decode": "genvid.commands.decode",
    "eval": "genvid.commands.eval",
    "bench": "genvid.commands.bench",
    "export": "genvid.commands.export",
}


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genvid", description="Text-to-video generation: tokenizer, diffusion transformer, autoregressive LM."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            sub = subparsers.add_parser(name, help="(not built yet)")
            sub.set_defaults(_module=None, _name=name)
            continue
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module, _name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args._module is None:
        print(f"genvid {args._name}: not built yet in this version", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UserError, FileNotFoundError, ValueError) as error:
        # Clear one-line errors for what a user typed; programming errors keep their traceback.
        from genvid.config import ConfigError

        if isinstance(error, (UserError, ConfigError, FileNotFoundError)) or getattr(error, "user_facing", False):
            print(f"genvid {args._name}: error: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
