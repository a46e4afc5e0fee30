"""Compare generated files with an output folder, and write them (or, with ``check``, only say
what is stale).

The writer only touches the paths it generates. It replaces a file there only when it generated
it (listed in the folder's previous manifest, or carrying the generated-by header), and refuses
to overwrite anyone else's. It removes a file only when the previous manifest lists it, in a
folder the generator writes into (the top level, snippets/, docs/; a theme's snippets/, assets/,
klaviyo-snippets/ for --target shopify, whose manifest is klaviyo-snippets/manifest.json), and
its bytes still have the sha256 recorded there: a file edited since it was generated is kept and
reported, and no other folder is ever looked into. Folders are checked before anything is
written, so a mistake in --out changes nothing.

All old or all new: every file to write goes first to a temporary file beside it
(``.name.tmp``, in the same folder), and only when all of them are written whole are they renamed
over the old ones (a rename within a folder writes no data, so a full disk cannot stop it half
way). A write that fails (a full disk, a quota, a file-size limit, an I/O error) removes the
temporary files and any folder it created: the output folder is as it was. Only a crash during
the renames themselves (milliseconds) can leave whole new files beside whole old ones; the next
run replaces them, and removes any temporary file a killed run left."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.codegen._build import MARKER
from klaviyo_snippets.generator.errors import UserError

__all__ = ["Result", "write_outputs"]


@dataclass
class Result:
    """What `generate` did (or, with check, would do) to the output folder."""

    out_dir: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: generated before and not any more, but edited since: left in place
    kept: list[str] = field(default_factory=list)
    #: with check: files that differ, are missing, or would be removed
    stale: list[str] = field(default_factory=list)
    #: with check: a short unified diff per changed text file
    diffs: dict[str, str] = field(default_factory=dict)
    check: bool = False
    #: things worth saying that are not errors: samples that no longer give a property a value
    warnings: list[str] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return not self.stale


def read_manifest(out_dir: Path, name: str = "manifest.json") -> dict[str, Any]:
    """The manifest klaviyo-snippets wrote in `out_dir` (at `name`: a target such as shopify keeps
    it in a folder of its own), or {} (none, unreadable, or not ours)."""
    try:
        data = json.loads((out_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and MARKER in str(data.get("_generated", "")) else {}


def _previous_manifest(out_dir: Path, name: str) -> dict[str, str]:
    """{file: sha256} as the folder's previous manifest recorded them, or {} without one."""
    files = read_manifest(out_dir, name).get("files")
    if not isinstance(files, dict):
        return {}
    return {str(name): str(facts.get("sha256")) for name, facts in files.items() if isinstance(facts, dict)}


def _check_folder(folder: Path, *, write: bool) -> None:
    """Raise a `UserError` unless ``folder`` is, or can be created as, a folder we may write in."""
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(
            f"{probe} is a file, not a folder",
            where="--out",
            hint="choose an output folder with --out (it is created if missing), or move that file away",
        )
    if write and not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(
            f"cannot write in {probe}: permission denied",
            where="--out",
            hint="make the folder writable, or choose another output folder with --out",
        )


def _read(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UserError(
            f"{path} is a folder, but klaviyo-snippets generates a file there",
            hint="move that folder elsewhere, or generate into another folder with --out",
        ) from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}", hint="check its permissions, or use another --out") from None


def _refuse_links(path: Path, out_dir: Path) -> None:
    """Refuse a symbolic link on the way from the output folder to a file we write or remove:
    it would make us write or delete outside that folder."""
    while path != out_dir and path != path.parent:
        if path.is_symlink():
            raise UserError(f"{path} is a symbolic link: klaviyo-snippets writes and removes only real files "
                            "inside its output folder", where="--out",
                            hint="remove the link (or generate into another folder with --out)")
        path = path.parent


def _write_new(path: str, data: bytes) -> None:
    """Create `path` and write it; O_EXCL fails rather than follow a link planted there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _make_folders(folder: str) -> list[str]:
    """Create `folder` and its missing parents; the ones created, parents first."""
    missing = []
    folder = os.path.normpath(folder)
    while folder and not os.path.lexists(folder):  # "" is the working folder ("dist" has no other parent)
        missing.append(folder)
        folder = os.path.dirname(folder)
    for path in reversed(missing):
        os.mkdir(path)
    return missing[::-1]


def _undo(staged: list[tuple[str, str]], made: list[str]) -> None:
    """Remove the temporary files and the folders a failed write created (what it can)."""
    for temporary, _ in staged:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _diff(name: str, old: bytes, new: bytes, limit: int = 40) -> str:
    try:
        a = old.decode("utf-8").splitlines(keepends=True)
        b = new.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"binary file {name} differs\n"
    lines = list(difflib.unified_diff(a, b, f"{name} (on disk)", f"{name} (generated)", n=1))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more diff lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def write_outputs(out_dir: Path, files: dict[str, bytes], manifest: dict[str, Any], *, check: bool = False,
                  manifest_name: str = "manifest.json") -> Result:
    if "\0" in str(out_dir):
        raise UserError(f"the output folder {str(out_dir)!r} holds a NUL character, which no file name can",
                        where="--out", hint="choose another output folder, e.g. --out dist")
    result = Result(out_dir=out_dir, manifest=manifest, files=files, check=check)
    folders = {name.rpartition("/")[0] for name in files}  # "", "snippets", "docs"
    for folder in sorted(folders):
        _check_folder(out_dir / folder, write=not check)
    recorded = _previous_manifest(out_dir, manifest_name)
    for name, data in files.items():
        path = out_dir / name
        old = _read(path)
        if old is None:
            (result.stale if check else result.written).append(name)
            continue
        if old == data:
            result.unchanged.append(name)
        elif name in recorded or MARKER.encode() in old[:600]:
            if check:
                result.stale.append(name)
                result.diffs[name] = _diff(name, old, data)
            else:
                result.written.append(name)
        else:
            raise UserError(
                f"{path} exists and was not generated by klaviyo-snippets; refusing to overwrite it",
                hint="move your file elsewhere, or generate into another folder with --out",
            )
    leftovers = []
    for name, sha256 in sorted(recorded.items()):
        path = out_dir / name
        if name in files or name.rpartition("/")[0] not in folders or not path.is_file():
            continue  # still generated, outside the folders we write in (or a bad name), or gone
        if hashlib.sha256(_read(path) or b"").hexdigest() == sha256:
            leftovers.append(name)
        else:
            result.kept.append(name)
    if check:
        result.stale = sorted(result.stale + leftovers)
        return result
    for name in [*result.written, *leftovers]:
        _refuse_links(out_dir / name, out_dir)
    root = os.fspath(out_dir)
    made: list[str] = []  # folders this run created, parents first
    staged: list[tuple[str, str]] = []  # (temporary file, the file it replaces), written whole
    name = ""
    try:
        for name in files:  # a temporary file left by a killed run: removed (a link, not followed)
            folder, _, base = name.rpartition("/")
            temporary = os.path.join(root, folder, f".{base}.tmp")
            if name not in result.written and os.path.lexists(temporary):
                os.unlink(temporary)
        for name in result.written:
            folder, _, base = name.rpartition("/")
            made += _make_folders(os.path.join(root, folder))
            temporary = os.path.join(root, folder, f".{base}.tmp")
            if os.path.lexists(temporary):
                os.unlink(temporary)  # a leftover (or a planted link): never written through
            staged.append((temporary, os.path.join(root, name)))
            _write_new(temporary, files[name])
    except OSError as err:
        _undo(staged, made)
        raise UserError(
            f"cannot write {out_dir / name if name else out_dir}: {err.strerror}; nothing was changed: "
            f"every file in {out_dir} is as it was",
            hint="free some space (or fix the cause) and run generate again",
        ) from None
    try:
        for temporary, target in staged:  # every file is whole: swap them in
            os.replace(temporary, target)
        for name in leftovers:
            path = out_dir / name
            path.unlink()
            result.removed.append(name)
            parent = path.parent
            while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    except OSError as err:
        raise UserError(
            f"cannot replace {err.filename or out_dir}: {err.strerror}",
            hint="fix the cause and run generate again (every file in the folder is whole, some may be new)",
        ) from None
    return result
