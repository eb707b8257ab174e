"""Run the console examples the docs show and compare their output with what the docs say.

Every number a page quotes from a run comes from a block marked like this::

    <!-- doc-example: deep-relu-he -->
    ```console
    $ chainrule train --data digits ... --out runs/deep-relu-he --quiet
    test accuracy ...
    $ chainrule diagnose runs/deep-relu-he
    ...
    ```

Each ``$`` line (``\\`` continues it) runs as a command, in a scratch folder shared by the
page's blocks (so a later block can read an earlier block's run folder) that sees the
repository's ``examples/``; its stdout and stderr, merged in order, must equal the lines
under it. Durations (``1.2 s``, ``16 trial-seconds``) and clock times are all that may differ,
and a line ``...`` stands for any number of lines. ``tests/docs/test_doc_examples.py``
runs every block in CI, so the docs cannot drift from the code.

    python tools/doc_examples.py            # check every page, report the differences
    python tools/doc_examples.py --update   # rewrite the blocks with today's output
    python tools/doc_examples.py README.md --only deep-relu-he
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("README.md", "docs/*.md")
MARK = re.compile(r"^<!-- doc-example: ([\w.-]+) -->\s*$")
FENCE = "```"
ELLIPSIS = "..."
# durations and clock times are the machine's business, not the docs': "1.2 s", "19ms", "1m29s",
# "16 trial-seconds", and the timestamp in a default run folder's name
VARIABLE = re.compile(r"\b(?:\d+m)?\d+(?:\.\d+)?(?: ?m?s| trial-seconds)\b|\b\d{8}-\d{6}\b")
PROGRAMS = {"chainrule": [sys.executable, "-m", "chainrule"], "python": [sys.executable]}


@dataclass
class Command:
    line: str  # continuation lines joined
    raw: list  # the page's lines for it, kept as written
    expected: list = field(default_factory=list)


@dataclass
class Block:
    page: Path
    name: str
    start: int  # index of the first line inside the fence
    end: int  # index of the closing fence
    commands: list = field(default_factory=list)


def find_blocks(page: Path) -> list:
    """The marked console blocks of one page."""
    lines = page.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith(FENCE):
            raise ValueError(f"{page}:{i + 1}: doc-example {m[1]!r} is not followed by a fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith(FENCE)), None)
        if end is None:
            raise ValueError(f"{page}:{i + 2}: doc-example {m[1]!r} has no closing fence")
        block = Block(page, m[1], i + 2, end)
        body = lines[i + 2 : end]
        k = 0
        while k < len(body):
            text = body[k]
            if text.startswith("$ "):
                cmd, raw = text[2:], [text]
                while cmd.endswith("\\") and k + 1 < len(body):
                    k += 1
                    cmd = cmd[:-1].rstrip() + " " + body[k].strip()
                    raw.append(body[k])
                block.commands.append(Command(cmd, raw))
            elif not block.commands:
                raise ValueError(f"{page}:{i + 3 + k}: output before the first '$' line")
            else:
                block.commands[-1].expected.append(text)
            k += 1
        blocks.append(block)
    return blocks


def run(command: str, cwd: Path) -> list:
    """Run one command line as a user would (env assignments in front allowed)."""
    words = shlex.split(command)
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100")
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if not words or words[0] not in PROGRAMS:
        raise ValueError(f"doc-example command must start with {sorted(PROGRAMS)}: {command!r}")
    proc = subprocess.run(
        PROGRAMS[words[0]] + words[1:],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    return proc.stdout.rstrip("\n").splitlines()


def _norm(line: str) -> str:
    return VARIABLE.sub("<varies>", line.rstrip())


def matches(expected: list, actual: list) -> bool:
    """``expected`` equals ``actual`` line by line, up to durations; ``...`` skips lines."""
    exp = [_norm(x) for x in expected]
    act = [_norm(x) for x in actual]

    @functools.cache
    def match(i, j):
        if i == len(exp):
            return j == len(act)
        if exp[i] == ELLIPSIS:  # any number of lines, none included
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and exp[i] == act[j] and match(i + 1, j + 1)

    return match(0, 0)


def refreshed(expected: list, actual: list) -> list:
    """Today's output in the page's shape: one ``...`` keeps as many lines around it."""
    if ELLIPSIS not in expected:
        return actual
    i = expected.index(ELLIPSIS)
    head, tail = expected[:i], expected[i + 1 :]
    if len(head) + len(tail) >= len(actual):
        return actual
    return actual[: len(head)] + [ELLIPSIS] + (actual[-len(tail) :] if tail else [])


def scratch_folder(folder: Path) -> Path:
    """Make ``folder`` (empty or new) see the repository's examples/ as the docs assume."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


def check_block(block: Block, cwd: Path, update=False) -> list:
    """Run a block's commands; the differences as text (empty when it matches)."""
    problems = []
    for cmd in block.commands:
        actual = run(cmd.line, cwd)
        if matches(cmd.expected, actual):
            continue
        if update:
            cmd.expected = refreshed(cmd.expected, actual)
            continue
        diff = difflib.unified_diff(cmd.expected, actual, "the docs", "today", lineterm="", n=1)
        problems.append(f"{block.page.name} [{block.name}] $ {cmd.line}\n" + "\n".join(diff))
    return problems


def write_back(page: Path, blocks: list) -> None:
    lines = page.read_text().splitlines()
    for block in sorted(blocks, key=lambda b: b.start, reverse=True):
        body = []
        for cmd in block.commands:
            body.extend(cmd.raw)
            body.extend(cmd.expected)
        lines[block.start : block.end] = body
    page.write_text("\n".join(lines) + "\n")


def pages(names=()) -> list:
    if names:
        return [ROOT / n for n in names]
    return [p for pattern in PAGES for p in sorted(ROOT.glob(pattern)) if find_blocks(p)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="pages to check (default: all with examples)")
    parser.add_argument("--only", action="append", default=[], help="block names to run")
    parser.add_argument("--update", action="store_true", help="rewrite the blocks")
    args = parser.parse_args(argv)
    failed = []
    for page in pages(args.pages):
        blocks = [b for b in find_blocks(page) if not args.only or b.name in args.only]
        with tempfile.TemporaryDirectory(prefix="chainrule-doc-") as scratch:
            cwd = scratch_folder(Path(scratch))
            for block in blocks:
                print(f"{page.relative_to(ROOT)} [{block.name}]", file=sys.stderr)
                failed += check_block(block, cwd, update=args.update)
        if args.update and blocks:
            write_back(page, blocks)
    for problem in failed:
        print(problem + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
