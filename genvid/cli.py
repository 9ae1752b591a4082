"""The ``genvid`` command line.

Each subcommand lives in ``genvid/commands/<name>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules import torch and models inside ``run``
so that ``--help`` stays fast.

What a user gets wrong (a missing file, a bad value, a folder of the wrong kind) is one line on
stderr and exit code 2: every such mistake raises :class:`genvid.errors.GenvidError`. The command
never reaches the network: it runs with ``HF_HUB_OFFLINE=1`` unless the caller set it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from genvid.commands.nested import add_nested_commands, run_nested  # noqa: F401  (old import place)
from genvid.errors import GenvidError, UserError  # noqa: F401  (UserError: the old name, kept)

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



class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (with where to look) instead of the usage block."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the words a user typed, only the command they name gets its
    options (some commands' options list names from modules that import torch and diffusers, which
    ``genvid generate`` would otherwise pay for at every start)."""
    parser = OneLineParser(
        prog="genvid", description="Text-to-video generation: tokenizer, diffusion transformer, autoregressive LM."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    words = [word for word in (argv or []) if not word.startswith("-")]
    chosen = words[0] if argv is not None and words and words[0] in COMMANDS else None
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        if chosen in (None, name):
            module.add_arguments(sub)
        sub.set_defaults(_module=module, _name=name)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None):
    args, extra = parser.parse_known_args(argv)
    # a command with ``overrides`` takes its ``key=value`` words after options too (``train CONFIG --resume auto k=v``)
    if extra and hasattr(args, "overrides") and all("=" in word and not word.startswith("-") for word in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def go_offline() -> None:
    """No command may reach a model hub: set HF_HUB_OFFLINE (also in an already imported hub client)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and os.environ["HF_HUB_OFFLINE"] not in ("0", "false", "False"):
        constants.HF_HUB_OFFLINE = True


def quiet_import_notices() -> None:
    """diffusers warns at import when an installed torchao lacks layouts genvid never loads; that
    notice would be a second stderr line on every command."""
    import logging

    logging.getLogger("diffusers.quantizers.torchao.torchao_quantizer").addFilter(
        lambda record: "Unable to import `torchao`" not in record.getMessage()
    )


#: the argparse ``dest`` of each command's own subcommands (``genvid eval prompts``)
SUBCOMMAND_DESTS = ("evaluation", "benchmark", "dataset_command", "action")


def command_name(args) -> str:
    """``genvid eval prompts``: the words a user typed to reach the command, for its error lines."""
    words = [args._name, *(getattr(args, dest) for dest in SUBCOMMAND_DESTS if getattr(args, dest, None))]
    return "genvid " + " ".join(words)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    go_offline()
    quiet_import_notices()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (GenvidError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
        # what a user typed; programming errors keep their traceback
        print(f"{command_name(args)}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        if not isinstance(error, MemoryError) and type(error).__name__ != "OutOfMemoryError":  # torch's
            raise
        print(f"{command_name(args)}: error: out of memory ({one_line(error)[:200]}); ask for fewer frames, "
              "a smaller size or a smaller batch", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
