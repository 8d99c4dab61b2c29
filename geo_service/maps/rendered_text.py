"""Rendered map text kept as text, not compiled again as a Jinja template.

Branca renders each element of a Folium map with its Jinja template and wraps the result in a new
``branca.element.Element(text)``, whose constructor compiles ``text`` as a template of its own
(``jinja2.Template(text)``) only to render it back unchanged. On a district's category page that
is two hundred compilations of generated JavaScript, about a third of the page's CPU time.

:func:`install` makes branca build those templates through :func:`template`, which returns a
:class:`RenderedText` (the text as Jinja would render it) when the text holds no Jinja syntax,
and a real ``jinja2.Template`` otherwise. The pages are byte-identical either way (a test renders
the maps with and without it).
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

#: What would make Jinja render a text other than as itself: a variable, block or comment
#: delimiter, or a carriage return (Jinja turns every line ending into ``"\n"``).
_NOT_PLAIN = re.compile(r"\{[{%#]|\r")


class RenderedText:
    """A template of plain text: renders as Jinja renders a text without Jinja syntax.

    Jinja's default environment drops one trailing ``"\\n"`` (``keep_trailing_newline=False``)
    and keeps everything else.

    Parameters
    ----------
    source
        The text, free of ``{{``, ``{%``, ``{#`` and ``"\\r"``.
    """

    __slots__ = ("_source", "_text")

    def __init__(self, source: str) -> None:
        self._source = source
        self._text = source[:-1] if source.endswith("\n") else source

    def render(self, *args: Any, **kwargs: Any) -> str:
        """The text (whatever the context)."""
        return self._text

    @property
    def module(self) -> Any:
        """The module of the equivalent compiled template (it has no macros)."""
        return jinja2.Template(self._source).module


def template(source: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``jinja2.Template(source, ...)``, or a :class:`RenderedText` for plain text.

    Parameters
    ----------
    source
        A template's source text (or what ``jinja2.Template`` takes).
    *args, **kwargs
        Options of ``jinja2.Template``; with any, the template is always compiled.

    Returns
    -------
    RenderedText or jinja2.Template
    """
    if isinstance(source, str) and not args and not kwargs and not _NOT_PLAIN.search(source):
        return RenderedText(source)
    return jinja2.Template(source, *args, **kwargs)


def install() -> None:
    """Make ``branca.element.Element(text)`` use :func:`template` (idempotent, process-wide)."""
    import branca.element

    if branca.element.Template is jinja2.Template:
        # a factory standing in for the class, which branca only ever calls
        branca.element.Template = template  # type: ignore[misc, assignment]
