"""The code generator: a loaded plan in, JavaScript, TypeScript, HTML snippets and docs out,
written to a folder by a writer that touches only what it generated.

    result = generate("my-plan.yaml", Path("dist"), public_key="AbC123")
    result.written, result.unchanged, result.removed, result.stale, result.manifest
    files = render_files("my-plan.yaml")   # in memory: {relative path: bytes}, nothing written
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, LOADER, MARKER, Options, build, file_facts
from klaviyo_snippets.generator.codegen._writer import Result, read_manifest, write_outputs
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.plan import Plan, check_public_key, load_plan

__all__ = ["generate", "render_files", "file_facts", "read_manifest", "Result", "BUNDLE", "LOADER", "MARKER"]


def generate(
    plan_path: str | Path | None = None,
    out_dir: str | Path = Path("dist"),
    *,
    public_key: str | None = None,
    check: bool = False,
    csp_nonce: str | None = None,
    inline: bool = True,
    assets_url: str | None = None,
) -> Result:
    """Generate the snippets for a plan (the default plan when ``plan_path`` is None) into
    ``out_dir``; with ``check``, write nothing and report in ``Result.stale`` what differs.

    ``public_key`` overrides the plan's key; ``csp_nonce`` stamps ``nonce="..."`` on every inline
    script (usually a template placeholder your server fills per response); ``inline=False``
    leaves no inline code at all: install.html loads klaviyo-snippets.min.js from ``assets_url``
    (an http(s) URL or a path starting with ``/``; default ``/``) with its SRI integrity hash.
    """
    with _no_gc():
        return _generate(plan_path, out_dir, public_key, check, csp_nonce, inline, assets_url)


@contextlib.contextmanager
def _no_gc():
    """Generation allocates many small objects and frees them all at the end; the cyclic
    collector's passes over them cost a third of the time on large plans, for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render_files(
    plan_path: str | Path | None = None,
    out_dir: str | Path = Path("dist"),
    *,
    public_key: str | None = None,
    csp_nonce: str | None = None,
    inline: bool = True,
    assets_url: str | None = None,
) -> dict[str, bytes]:
    """Every file `generate` would write, in memory (``{relative path: bytes}``); nothing
    touches the disk. ``out_dir`` only names the folder in the regenerate command the files'
    headers quote."""
    with _no_gc():
        files, _ = _build(plan_path, out_dir, public_key, csp_nonce, inline, assets_url)
        return files


def _generate(plan_path, out_dir, public_key, check, csp_nonce, inline, assets_url) -> Result:
    files, manifest = _build(plan_path, out_dir, public_key, csp_nonce, inline, assets_url)
    return write_outputs(Path(out_dir), files, manifest, check=check)


def _build(plan_path, out_dir, public_key, csp_nonce, inline, assets_url):
    plan = load_plan(plan_path)
    if public_key is not None:
        public_key = check_public_key(public_key, where="--public-key")
    if csp_nonce is not None and (not csp_nonce.strip() or any(c in csp_nonce for c in "\"'<>\n\r")):
        raise UserError(
            f"{csp_nonce!r} cannot be a CSP nonce",
            where="--csp-nonce",
            hint="use base64 characters, or a template placeholder such as {{ csp_nonce }}",
        )
    options = Options(public_key=public_key, csp_nonce=csp_nonce, inline=inline, assets_url=_assets_url(assets_url, inline))
    return build(plan, Path(out_dir), options)


def _assets_url(url: str | None, inline: bool) -> str:
    """The URL install.html loads the bundle from: an absolute http(s) URL or a path on the site."""
    if url is None:
        return "/"
    if inline:
        raise UserError(
            "only applies with --no-inline: without it the bundle is inlined and no URL is used",
            where="--assets-url",
            hint="add --no-inline to load klaviyo-snippets.min.js from that URL, or drop --assets-url",
        )
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        good = (parts.scheme in ("http", "https") and parts.netloc) or (not parts.netloc and url.startswith("/"))
    except ValueError:  # an unclosed [ in the host
        good = False
    if not good or any(c in " \"'<>\\`" or not c.isprintable() for c in url):
        raise UserError(
            f"{url!r} is not a URL the bundle can be loaded from",
            where="--assets-url",
            hint="use an absolute URL such as https://cdn.example.com/kl/ or a path on your site such as /assets/",
        )
    return url
