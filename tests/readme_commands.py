"""The shell commands and Python snippets of the project's READMEs, as a user would paste them.

A command is a line of a fenced ``bash`` / ``sh`` / ``shell`` / ``console`` block, of an untagged
fence, or of an indented block, whose first word is a program a user runs (``genvid``, ``python``,
``pip``, ...). ``text`` fences (usage synopses) and other languages are not commands. Lines ending
in a backslash continue; ``&&`` and ``;`` separate commands; ``#`` starts a comment.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
PROGRAMS = {
    "genvid", "python", "python3", "pip", "pip3", "accelerate", "torchrun",
    "rm", "mkdir", "cp", "mv", "ls", "cat", "head", "tail", "grep", "export",
}
FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w+-]*)")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    readme: str  # path relative to the repository
    line: int  # where the command starts
    words: tuple[str, ...]  # after leading VAR=value assignments
    environment: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return shlex.join(self.words)

    @property
    def label(self) -> str:
        return f"{self.readme}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Snippet:
    readme: str
    line: int
    code: str

    @property
    def label(self) -> str:
        return f"{self.readme}:{self.line}: python snippet"


def readme_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "genvid").rglob("README.md")), *sorted((ROOT / "tokenizer").rglob("README.md"))]
    return [path for path in files if path.is_file()]


def blocks(text: str):
    """``(language, first line number, lines)`` of each fenced or indented code block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match:
            fence, language, start = match.group(2), match.group(3).lower(), index + 1
            body = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(fence):
                body.append(lines[index][len(match.group(1)):])
                index += 1
            yield language, start + 1, body
            index += 1
            continue
        previous_blank = index == 0 or not lines[index - 1].strip()
        if lines[index].startswith("    ") and lines[index].strip() and previous_blank:
            start, body = index, []
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index].strip()):
                body.append(lines[index][4:])
                index += 1
            yield "indented", start + 1, body
            continue
        index += 1


def split_commands(line: str) -> list[list[str]]:
    """Words of each command in one logical shell line (``a && b; c``), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, current = [], []
    for token in lexer:
        if token in (";", "&&", "||", "&", "|"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def _logical_lines(body: list[str], first_line: int):
    pending, start = "", None
    for offset, raw in enumerate(body):
        stripped = raw.strip()
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        if start is None:
            start = first_line + offset
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield start, pending + stripped
        pending, start = "", None


def _program(words: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    environment = []
    while words and ASSIGNMENT.match(words[0]):
        name, value = words[0].split("=", 1)
        environment.append((name, value))
        words = words[1:]
    return words, environment


def collect(files: list[Path] | None = None) -> list[Command | Snippet]:
    """Every command and Python snippet of the READMEs, in reading order."""
    items: list[Command | Snippet] = []
    for path in files or readme_files():
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        for language, first_line, body in blocks(path.read_text(encoding="utf-8")):
            if language in ("python", "py"):
                items.append(Snippet(name, first_line, "\n".join(body)))
                continue
            if language not in SHELL_LANGUAGES | {"", "indented"}:
                continue
            for line_number, line in _logical_lines(body, first_line):
                if not line:
                    continue
                try:
                    parts = split_commands(line)
                except ValueError:  # unbalanced quotes: prose, not a command
                    continue
                for part in parts:
                    words, environment = _program(part)
                    if not words or words[0] not in PROGRAMS:
                        if language in SHELL_LANGUAGES and words:
                            raise AssertionError(f"{name}:{line_number}: unknown program {words[0]!r} in a shell block")
                        continue
                    items.append(Command(name, line_number, tuple(words), tuple(environment)))
    return items
