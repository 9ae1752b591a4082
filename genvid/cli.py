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
    "configs": "genvid.commands.configs",
    "generate": "genvid.commands.generate",
    "encode": "genvid.commands.encode",
    "decode": "genvid.commands.decode",
    "eval": "genvid.commands.eval",
    "bench": "genvid.commands.bench",
    "export": "genvid.commands.export",
}


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def optional_module(module_name: str):
    """Import ``module_name``; None when it (or a parent package) does not exist yet."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            return None
        raise


def add_nested_commands(parser, table: dict[str, tuple[str, str]], dest: str) -> None:
    """Sub-subcommands (``genvid eval tokenizer``): ``table`` maps name -> (module, help)."""
    subparsers = parser.add_subparsers(dest=dest, metavar="WHAT", required=True)
    for name, (module_name, help_text) in table.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = optional_module(module_name)
        if module is not None:
            module.add_arguments(sub)
        sub.set_defaults(_nested=module, _nested_name=f"{dest} {name}")


def run_nested(args) -> int:
    if args._nested is None:
        raise UserError(f"'{args._nested_name}' is not built yet in this version")
    return args._nested.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genvid", description="Text-to-video generation: tokenizer, diffusion transformer, autoregressive LM."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = optional_module(module_name)
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
