"""The one Jinja environment: templates from ``snippets/templates``, ``StrictUndefined`` (a typo in
a template is an error, not an empty string), autoescape off (JavaScript is not HTML) and an
explicit escaping filter for every context."""

from __future__ import annotations

import functools

import jinja2

from klaviyo_snippets.generator.codegen import _escape
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["environment", "render"]


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(snippets_dir() / "templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: compile each once per process
    )
    env.filters.update(
        js=_escape.js_literal,
        ts_key=_escape.ts_key,
        island=_escape.json_island,
        attr=_escape.html_attr,
        html=_escape.html_text,
        html_comment=_escape.html_comment,
        js_comment=_escape.js_comment,
        md_cell=_escape.md_cell,
        md_fence=_escape.md_fence,
    )
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
