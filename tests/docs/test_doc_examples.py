"""Every marked console example in the README and docs/ prints what the page says.

The pages' numbers (accuracies, losses, findings, sweep tables) come from these runs;
``python tools/doc_examples.py --update`` rewrites them when the code changes them on
purpose, and this test fails when it changes them by accident.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "tools" / "doc_examples.py")
doc_examples = importlib.util.module_from_spec(_spec)
sys.modules["doc_examples"] = doc_examples  # dataclasses look their module up there
_spec.loader.exec_module(doc_examples)

PAGES = [p.relative_to(ROOT).as_posix() for p in doc_examples.pages()]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_print_what_the_page_says(page, tmp_path):
    cwd = doc_examples.scratch_folder(tmp_path / "scratch")
    problems = []
    for block in doc_examples.find_blocks(ROOT / page):
        problems += doc_examples.check_block(block, cwd)
    assert not problems, (
        "\n\n".join(problems) + "\n\n(intended? python tools/doc_examples.py --update)"
    )


def test_the_pages_have_examples():
    # the check must not pass by finding nothing to check
    assert "docs/diagnostics.md" in PAGES


def test_matching_allows_only_durations_and_elided_lines():
    m = doc_examples.matches
    assert m(["5 epochs, 205 steps, 1.2 s"], ["5 epochs, 205 steps, 0.9 s"])
    assert not m(["test accuracy 94.15%"], ["test accuracy 29.25%"])
    assert m(["a", "...", "z"], ["a", "b", "c", "z"]) and m(["a", "...", "z"], ["a", "z"])
    assert not m(["a", "...", "z"], ["a", "b"])
    assert not m(["a"], ["a", "extra line"])
    assert m(["-> runs/digits-20261125-131945  19ms"], ["-> runs/digits-20261201-200000  7ms"])
    assert m(["trials 59/60 | 1m29s"], ["trials 59/60 | 58s"])
    assert not m(["trials 59/60 | 1m29s"], ["trials 58/60 | 1m29s"])


def test_find_blocks_reads_commands_continuations_and_output(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n<!-- doc-example: one -->\n```console\n$ chainrule train \\\n"
        "      --epochs 2\nline 1\nline 2\n$ chainrule info\n```\n"
    )
    (block,) = doc_examples.find_blocks(page)
    assert block.name == "one"
    assert [c.line for c in block.commands] == ["chainrule train --epochs 2", "chainrule info"]
    assert block.commands[0].expected == ["line 1", "line 2"]
    page.write_text("<!-- doc-example: two -->\ntext\n")
    with pytest.raises(ValueError, match="not followed by a fence"):
        doc_examples.find_blocks(page)
