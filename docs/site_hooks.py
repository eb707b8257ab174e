"""MkDocs hook for the documentation site (``hooks:`` in mkdocs.yml).

The guides link to files of the repository outside ``docs/`` (``../bench/README.md``,
``../examples/...``): right on GitHub, but not pages of the site, where ``--strict``
would report them as broken. On the site such a link becomes the file's path in code
type; links between pages are left alone, so a broken one still fails the build.
"""

from __future__ import annotations

import re

OUTSIDE = re.compile(r"\[([^\]]+)\]\((\.\./[^)\s]+)\)")


def on_page_markdown(markdown, page, config, files):
    def plain(m):
        text, target = m.group(1), m.group(2)
        shown = target.removeprefix("../")
        return f"`{shown}`" if text.strip("`") == shown else f"{text} (`{shown}`)"

    return OUTSIDE.sub(plain, markdown)


ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):(?=<code>)")


def on_page_content(html, page, config, files):
    """Docstrings use Sphinx roles (``:func:`draw```); the API pages show just the name."""
    return ROLE.sub("", html)
