"""Griffe extension: the docstrings' reStructuredText roles, read as Markdown.

The source's docstrings name other objects the Sphinx way (``:func:`run_search```,
``:data:`~optsearch.dsl.library.NAMED_RULES```), end a paragraph with ``::`` before a literal
block, and a few hold a reStructuredText simple table (rows between lines of ``=====``).
mkdocstrings renders docstrings as Markdown, where those would print as they are; this extension
rewrites each role to a code span (``~`` keeps the last name, as in Sphinx), ``::`` to ``:`` and
a simple table or a one-line ``.. math::`` directive to a preformatted block, before the
docstring is parsed. The source files stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|exc|obj|const|math|ref|term|envvar):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", flags=re.M)
_BORDER = re.compile(r"^[ \t]*=+(?:[ \t]+=+)+[ \t]*$")
_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")
_MATH_DIRECTIVE = re.compile(r"^[ \t]*\.\. math:: (.+)$", flags=re.M)


def _span(match: re.Match[str]) -> str:
    text = match.group(2)
    if match.group(1):
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def _simple_tables(text: str) -> str:
    """Each run of non-blank lines that starts and ends with a table border, fenced as text."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        end = i
        while end + 1 < len(lines) and lines[end + 1].strip():
            end += 1
        if _BORDER.match(lines[i]) and end > i and _BORDER.match(lines[end]):
            # ``x`` becomes x and four spaces, so that the columns stay aligned
            table = [_DOUBLE_BACKTICKS.sub(lambda m: m.group(1) + "    ", line) for line in lines[i : end + 1]]
            out += ["", "```text", *table, "```", ""]
            i = end + 1
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def markdown(docstring: str) -> str:
    """The docstring with its Sphinx roles as code spans, its ``::`` markers as colons, and its
    simple tables and math directives preformatted."""
    text = _MATH_DIRECTIVE.sub(lambda m: f"\n```latex\n{m.group(1)}\n```\n", docstring)
    return _simple_tables(_LITERAL.sub(r"\1:", _ROLE.sub(_span, text)))


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring once its object is created."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
