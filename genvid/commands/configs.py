"""genvid configs [show NAME | copy NAME [DEST]]: the shipped training configs."""

HELP = "list the shipped training configs, print one resolved, or copy one out to edit"


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="name, task and summary of each shipped config (the default)")
    show = actions.add_parser("show", help="print a config with its base chain merged (what `genvid train` runs)")
    show.add_argument("name", help="a shipped name (dit/tiny) or a YAML path")
    copy = actions.add_parser("copy", help="copy a shipped config to a file of yours, to edit and train")
    copy.add_argument("name", help="a shipped name, e.g. dit/tiny")
    copy.add_argument("destination", nargs="?", default=None,
                      help="file or folder to write (default: ./<family>_<name>.yaml, e.g. dit_tiny.yaml)")
    copy.add_argument("--resolved", action="store_true",
                      help="write every key (its base chain merged) instead of the short file that names its base")
    copy.add_argument("--force", action="store_true", help="overwrite the destination if it exists")


def summary(path) -> str:
    """The first comment line of a config file."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def list_configs() -> list[tuple[str, str, str, str]]:
    """(name, task, base, summary) of every shipped training config."""
    from omegaconf import OmegaConf

    from genvid.config import BASE_KEY, find_config, load_config, shipped_config_names

    rows = []
    for name in shipped_config_names():
        path = find_config(name)
        base = OmegaConf.load(path).get(BASE_KEY) or "-"
        rows.append((name, str(load_config(path).get("task", "")), str(base), summary(path)))
    return rows


def copy_config(name: str, destination: str | None, resolved: bool = False, force: bool = False, ask=None):
    """Write shipped config ``name`` to ``destination``; an existing file is replaced only with
    ``force`` or when ``ask(question)`` answers yes. Returns the path written."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from genvid.config import ConfigError, find_config, load_config, shipped_configs_root

    source = find_config(name)
    if shipped_configs_root() not in source.resolve().parents:
        raise ConfigError(f"{name!r} is not a shipped config (`genvid configs` lists them)")
    default_name = "_".join(source.relative_to(shipped_configs_root()).with_suffix("").parts) + source.suffix
    target = Path(destination) if destination else Path(default_name)
    if target.is_dir():
        target = target / default_name
    if target.exists() and not force:
        if ask is None or not ask(f"{target} exists; overwrite it? [y/N] "):
            raise ConfigError(f"{target} exists; add --force to overwrite it")
    if resolved:
        text = f"# genvid config {name}, every key (its base chain merged)\n" + OmegaConf.to_yaml(load_config(source))
    else:
        text = source.read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _ask_terminal(question: str) -> bool:
    import sys

    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def run(args) -> int:
    from omegaconf import OmegaConf

    from genvid.config import load_config

    if args.action == "show":
        print(OmegaConf.to_yaml(load_config(args.name)), end="")
    elif args.action == "copy":
        target = copy_config(args.name, args.destination, args.resolved, args.force, ask=_ask_terminal)
        print(f"wrote {target}; train it with: genvid train {target}")
    else:
        rows = [("NAME", "TASK", "BASE", "SUMMARY"), *list_configs()]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for name, task, base, text in rows:
            text = text if len(text) <= 80 else text[:77] + "..."
            print(f"{name:<{widths[0]}}  {task:<{widths[1]}}  {base:<{widths[2]}}  {text}")
        print("\ntrain one: genvid train NAME [key=value ...]; copy one to edit: genvid configs copy NAME")
    return 0
