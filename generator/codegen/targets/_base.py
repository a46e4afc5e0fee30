"""What every output target is, and what targets share: the plan's bundle and key, the
generated-by notice with the command that regenerates the files, the events table of a README,
the manifest, and the Jinja environment of a target's templates.

A target's templates live in ``snippets/targets/NAME/``. They use square-bracket delimiters
(``[[ value ]]``, ``[% if %]``, ``[# comment #]``) so that the Liquid, Handlebars or PHP they
write keeps its own ``{{ }}`` and ``{% %}`` untouched; every value still goes through one of
the escaping filters of ``codegen._escape``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2
import rjsmin

from klaviyo_snippets.generator.codegen import _escape
from klaviyo_snippets.generator.codegen._build import (
    BUNDLE, MARKER, Options, _command, _json_text, _plan_label, build, file_facts,
)
from klaviyo_snippets.generator.plan import Event, Plan
from klaviyo_snippets.generator.resources import snippets_dir, version as generator_version

__all__ = ["Target", "plan_bundle", "notice", "fires", "manifest_file", "render_template", "glue_script"]


@dataclass(frozen=True)
class Target:
    """One output layout. ``render(plan, out_dir, options)`` returns ``({path: bytes}, manifest)``
    for every file, the manifest included (at ``manifest``, a path inside the output folder)."""

    name: str
    summary: str
    render: Callable[[Plan, Path, Options], tuple[dict[str, bytes], dict[str, Any]]]
    #: where the manifest lives in the output folder: the writer reads the previous run's there
    manifest: str = "manifest.json"
    #: the output folder when --out is not given; None: --out is required (a theme's folder)
    default_out: str | None = "dist"
    #: when --out is required: what that folder is, and an example
    out_folder: tuple[str, str] = ("your theme's folder", "my-theme")
    #: whether --csp-nonce, --no-inline and --assets-url apply (they shape install.html)
    html_options: bool = True
    #: the files a shopper's browser downloads (their sizes are printed after a run)
    downloads: tuple[str, ...] = ("loader.min.js", "klaviyo-snippets.min.js")
    #: what to do next, printed after a run; ``{out}`` is the output folder
    next_step: str = ""


def plan_bundle(plan: Plan, out_dir: Path, options: Options) -> tuple[bytes, str]:
    """The plan's minified bundle, as the plain target writes it, and the public key it sends to."""
    plain, manifest = build(plan, out_dir, Options(public_key=options.public_key))
    return plain[f"{BUNDLE}.min.js"], manifest["options"]["public_key"]


def notice(plan: Plan, out_dir: Path, options: Options, target: str) -> str:
    """The first line of every readable generated file: generator, plan, the command to rerun."""
    command = _command(plan, out_dir, options).replace(
        "klaviyo-snippets generate", f"klaviyo-snippets generate --target {target}", 1)
    source = "the default plan" if plan.is_default else f"the plan {_plan_label(plan, out_dir)}"
    return f"{MARKER} {generator_version()} from {source}. Do not edit: regenerate with `{command}`."


def fires(event: Event, plan: Plan, glue: Event | None = None) -> str:
    """How `event` fires, for a README's table of events (``glue``: the event a cart glue calls)."""
    how = [{"load": "on page load", "click": f"on a click on {t.selector}", "submit": f"on submit of {t.selector}"}
           .get(t.kind, "") for t in event.triggers]
    how += [f"with {other.label}" for other in plan.events if event.key in other.also]
    if event is glue:
        how.append("after an add to cart (the cart glue)")
    return ", ".join(h for h in how if h) or f"when your code calls klaviyoSnippets.{event.function}"


def manifest_file(files: dict[str, str | bytes], *, notice_text: str, plan: Plan, out_dir: Path, target: str,
                  key: str, path: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every file (text is written as UTF-8) plus the manifest (at ``path``) that vouches for them:
    bytes, gzip bytes, sha256 and SRI hash of each, the plan's sha256, the generator's version and
    the target."""
    files = {name: data if isinstance(data, bytes) else data.encode("utf-8") for name, data in files.items()}
    manifest = {
        "_generated": notice_text,
        "generator": {"name": "klaviyo-snippets", "version": generator_version()},
        "plan": {"path": _plan_label(plan, out_dir) or "default", "sha256": plan.sha256},
        "options": {"public_key": key, "target": target},
        "files": {name: file_facts(data) for name, data in sorted(files.items())},
    }
    return dict(sorted({**files, path: _json_text(manifest).encode("utf-8")}.items())), manifest


@functools.cache
def _environment(target: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(snippets_dir() / "targets" / target)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]",
    )
    env.filters.update(
        js=_escape.js_literal, attr=_escape.html_attr, js_comment=_escape.js_comment,
        md_cell=_escape.md_cell, liquid_comment=liquid_comment,
    )
    return env


def render_template(target: str, template: str, **context: Any) -> str:
    return _environment(target).get_template(template).render(**context)


def glue_script(target: str, template: str, notice_text: str, **context: Any) -> str:
    """A target's cart glue: the template rendered and minified (rjsmin: comments and whitespace
    only), after the notice comment the writer looks for."""
    source = render_template(target, template, **context)
    return f"/* {_escape.js_comment(notice_text)} */\n" + rjsmin.jsmin(source) + "\n"


def liquid_comment(text: str) -> str:
    """Human text for inside ``{% comment %}``: no tag or output delimiter survives in it, so
    nothing can end the comment or be read as Liquid."""
    for bad, good in (("{%", "{ %"), ("%}", "% }"), ("{{", "{ {"), ("}}", "} }")):
        while bad in text:
            text = text.replace(bad, good)
    return " ".join(text.split())
