"""The code generator: a loaded plan in, JavaScript, TypeScript, HTML snippets and docs out,
written to a folder by a writer that touches only what it generated.

    result = generate("my-plan.yaml", Path("dist"), public_key="AbC123")
    result.written, result.unchanged, result.removed, result.stale, result.manifest
    result.warnings     # e.g. a sample that no longer gives a mapped property a value
    files = render_files("my-plan.yaml")   # in memory: {relative path: bytes}, nothing written
    generate("shopify.yaml", "my-theme", target="shopify")   # a theme's own layout (codegen.targets)
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, LOADER, MARKER, Options, file_facts
from klaviyo_snippets.generator.codegen._writer import Result, read_manifest, write_outputs
from klaviyo_snippets.generator.codegen.targets import TARGETS, Target, get_target, platforms, preset_path
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.plan import Plan, PlanError, check_public_key, load_plan, sample_warnings

__all__ = ["generate", "render_files", "file_facts", "read_manifest", "Result", "BUNDLE", "LOADER", "MARKER",
           "TARGETS", "Target", "get_target", "platforms", "preset_path"]


def generate(
    plan_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    public_key: str | None = None,
    check: bool = False,
    csp_nonce: str | None = None,
    inline: bool = True,
    assets_url: str | None = None,
    target: str = "plain",
) -> Result:
    """Generate the snippets for a plan (the default plan when ``plan_path`` is None) into
    ``out_dir``; with ``check``, write nothing and report in ``Result.stale`` what differs.

    ``public_key`` overrides the plan's key; ``csp_nonce`` stamps ``nonce="..."`` on every inline
    script (usually a template placeholder your server fills per response); ``inline=False``
    leaves no inline code at all: install.html loads klaviyo-snippets.min.js from ``assets_url``
    (an http(s) URL or a path starting with ``/``; default ``/``) with its SRI integrity hash.
    ``target`` is the layout (`TARGETS`: ``plain``, the default, writes ``dist/``; ``shopify``
    writes into a theme's folder, which ``out_dir`` must name).
    """
    with _no_gc():
        return _generate(plan_path, out_dir, public_key, check, csp_nonce, inline, assets_url, target)


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
    out_dir: str | Path | None = None,
    *,
    public_key: str | None = None,
    csp_nonce: str | None = None,
    inline: bool = True,
    assets_url: str | None = None,
    target: str = "plain",
) -> dict[str, bytes]:
    """Every file `generate` would write, in memory (``{relative path: bytes}``); nothing
    touches the disk. ``out_dir`` only names the folder in the regenerate command the files'
    headers quote."""
    with _no_gc():
        files, _ = _build(plan_path, out_dir, public_key, csp_nonce, inline, assets_url, target)
        return files


def _generate(plan_path, out_dir, public_key, check, csp_nonce, inline, assets_url, target) -> Result:
    plan = load_plan(plan_path)
    chosen = get_target(target)
    out_dir = _out_dir(out_dir, chosen)
    files, manifest = _build(plan, out_dir, public_key, csp_nonce, inline, assets_url, target)
    result = write_outputs(out_dir, files, manifest, check=check, manifest_name=chosen.manifest)
    result.warnings = sample_warnings(plan)
    return result


def _build(plan_path, out_dir, public_key, csp_nonce, inline, assets_url, target="plain"):
    chosen = get_target(target)
    out_dir = _out_dir(out_dir, chosen)
    if not chosen.html_options:
        given = [name for name, value in (("--csp-nonce", csp_nonce), ("--no-inline", not inline),
                                          ("--assets-url", assets_url)) if value]
        if given:
            raise UserError(f"does not apply to --target {chosen.name}, whose own files load the bundle",
                            where=given[0], hint="leave it out")
    plan = plan_path if isinstance(plan_path, Plan) else load_plan(plan_path)
    if public_key is not None:
        public_key = check_public_key(public_key, where="--public-key")
    if csp_nonce is not None and (not csp_nonce.strip() or any(c in csp_nonce for c in "\"'<>\n\r")):
        raise UserError(
            f"{csp_nonce!r} cannot be a CSP nonce",
            where="--csp-nonce",
            hint="use base64 characters, or a template placeholder such as {{ csp_nonce }}",
        )
    options = Options(public_key=public_key, csp_nonce=csp_nonce, inline=inline, assets_url=_assets_url(assets_url, inline))
    try:
        return chosen.render(plan, out_dir, options)
    except PlanError as error:
        if plan.is_default and chosen.name in platforms():
            # The built-in plan reads generic objects, not a platform's own: point at its preset.
            error.hint = (f"{error.hint}; " if error.hint else "") + (
                f"the built-in plan is not shaped for {chosen.name}: start from its preset with "
                f"`klaviyo-snippets init --platform {chosen.name}` and generate with --plan")
        raise


def _out_dir(out_dir: str | Path | None, target: Target) -> Path:
    """The output folder: as given, else the target's own (``dist``); a `UserError` for a
    target that writes into a folder of yours (a theme) and was given none."""
    if out_dir is not None:
        return Path(out_dir)
    if target.default_out is None:
        what, example = target.out_folder
        raise UserError(f"--target {target.name} writes into {what}: say which with --out",
                        where="--out", hint=f"e.g. klaviyo-snippets generate --target {target.name} --out {example}")
    return Path(target.default_out)


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
