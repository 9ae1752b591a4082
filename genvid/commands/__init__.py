"""Subcommands of the ``genvid`` CLI (see genvid.cli)."""
