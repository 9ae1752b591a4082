"""Sub-subcommands (``genvid eval tokenizer``, ``genvid bench dit``) for the command modules.

Kept outside ``genvid.cli`` so that command modules never import the CLI that loads them.
"""

from __future__ import annotations

import importlib


def add_nested_commands(parser, table: dict[str, tuple[str, str]], dest: str) -> None:
    """``table`` maps name -> (module, help); each module has ``add_arguments`` and ``run``."""
    subparsers = parser.add_subparsers(dest=dest, metavar="WHAT", required=True)
    for name, (module_name, help_text) in table.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_nested=module, _nested_name=f"{dest} {name}")


def run_nested(args) -> int:
    return args._nested.run(args)
