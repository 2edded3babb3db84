"""Griffe extension for the API reference: Sphinx cross-reference roles read as code.

transferkit's docstrings name other objects the Sphinx way (``:func:`~transferkit.runs.fit```);
mkdocstrings renders docstrings as Markdown, where such a role would show its colons and
backticks. This extension rewrites each role, before rendering, as inline code of the name
(``~`` keeps the last part only, as Sphinx does), so the docstrings read cleanly in the site and
stay unchanged in the source.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")


LITERAL_MARK = re.compile(r"(?<=\S)::$", re.M)  # "e.g.::" before an indented example


def plain(text: str) -> str:
    """``text`` with every role replaced by inline code of its target, and reStructuredText's
    ``::`` (which introduces an indented example, a code block in Markdown too) shown as ``:``."""

    def code(match: re.Match) -> str:
        short, target = match.groups()
        return f"`{target.rsplit('.', 1)[-1] if short else target}`"

    return LITERAL_MARK.sub(":", ROLE.sub(code, text))


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
