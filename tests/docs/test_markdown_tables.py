"""A Markdown table must start a block: glued to the line above it (a run's header line
printed by a bench script, say), Python-Markdown renders the whole table as one
paragraph of pipes. docs/performance.md had four such tables."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def glued_tables(text):
    """``[(line number, the line above)]`` for each table whose first row follows a line
    of text with no blank line between (outside fenced code)."""
    found, fenced, prev = [], False, ""
    for k, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("|") and prev.strip():
            if not prev.startswith(("|", "#", "<!--")):
                found.append((k, prev))
        prev = line
    return found


def test_every_table_in_the_docs_starts_a_block():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    glued = [
        f"{p.relative_to(ROOT)}:{k}: {above[:60]}"
        for p in pages
        for k, above in glued_tables(p.read_text())
    ]
    assert not glued, "a table right after a line of text (add a blank line):\n" + "\n".join(glued)


def test_a_table_glued_to_its_header_line_is_found():
    text = "intro\n\nheader line\n| a | b |\n|---|---|\n\n```\nx\n| in code |\n```\n"
    assert glued_tables(text) == [(4, "header line")]
