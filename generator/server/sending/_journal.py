"""The state file: an append-only journal of what was accepted, locked while a run uses it, so
the next run skips it and sends nothing twice. It is read a line at a time into a compact index
(about 24 bytes a key), so a journal of millions of events loads in tens of MB."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server._stream import MAX_LINE_BYTES, KeyIndex, file_size
from klaviyo_snippets.generator.server.sending._settings import check_writable
from klaviyo_snippets.generator.server.sending._work import Delivery, Key, body_digest

__all__ = ["StateFile", "now_iso"]


def now_iso() -> str:
    """The time stamp of state-file and dead-letter lines."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StateFile:
    """An append-only journal of JSON lines. The first line is a header:

        {"state": "klaviyo-snippets send state", "version": 1, "api_url": "https://a.klaviyo.com",
         "account": "<16 hex>", "salt": "<hex>", "created_at": "..."}

    `account` is an HMAC of the private key under a random `salt` (it tells one account from
    another and cannot give the key back). Then one line per settled key:

        {"metric": "Placed Order", "unique_id": "1234", "result": "accepted", "status": 202, "at": "..."}
        {"catalog_item": "1111", "result": "exists", "status": 202, "at": "..."}
        {"metric": "...", "unique_id": "...", "result": "failed", "status": 400,
         "transient": false, "digest": "sha256:...", "at": "..."}

    A later line wins. Each line is one `write()` as soon as the answer arrives (a killed process
    keeps it), fsynced at least every `sync_every` seconds and at the end (a power cut loses at
    most that much, which Klaviyo's unique_id dedup then absorbs). A torn last line from a crash
    is ignored. The file is locked while a run uses it: two runs cannot share it.
    """

    HEADER = "klaviyo-snippets send state"
    VERSION = 1

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        # What a run consults, in ~24 bytes a key however long the journal (a Python set of Keys
        # took ~200): the keys accepted, and the keys refused, each with its body's digest (0
        # when the last failure was transient: sent again).
        self.accepted = KeyIndex()
        self.failed = KeyIndex()
        self.header: dict[str, Any] | None = None
        self.damaged_lines = 0
        self._fd: int | None = None
        self._sync_every = 1.0
        self._last_sync = 0.0
        self._dirty = False

    # reading ------------------------------------------------------------------------------

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StateFile:
        """A read-only view (dry runs); an absent file is an empty state."""
        state = cls(path)
        if state.path.exists():
            file_size(state.path, "state file")  # a pipe would block, a device never end
            try:
                with state.path.open("rb") as handle:
                    state._load(_lines(handle))
            except OSError as error:
                raise UserError(f"cannot read the state file: {error.strerror}", where=str(state.path),
                                hint="pass another --state (a file), or --no-state") from None
        return state

    def _load(self, lines: Iterable[bytes]) -> None:
        """Read the journal a line at a time (a torn last line is counted in `damaged_lines`)."""
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                entry = None
            if isinstance(entry, dict) and entry.get("state") == self.HEADER:
                self.header = entry
                continue
            if self.header is None:  # the first line is always the header: this file is not ours
                raise UserError("this is not a klaviyo-snippets state file (its first line is not "
                                "a state header); it is left as it is",
                                where=f"{self.path}:{number}",
                                hint="pass another --state, or move this file away")
            key = Key.from_fields(entry) if isinstance(entry, dict) else None
            if key is None:
                self.damaged_lines += 1  # a write cut short by a crash
                continue
            if entry.get("result") in ("accepted", "exists"):
                self.accepted.add(key.text())
            elif entry.get("result") == "failed":
                self._refused(key, entry)

    def _refused(self, key: Key, entry: dict[str, Any]) -> None:
        """Remember a failure (the last one wins): its digest if it was for good, else 0."""
        text = key.text()
        if text in self.accepted:
            return
        digest = entry.get("digest")
        self.failed.set(text, _short(digest) if not entry.get("transient") and isinstance(digest, str) else 0)

    def done(self, key: Key) -> bool:
        return key.text() in self.accepted

    def refused_before(self, key: Key, body: Any) -> dict[str, Any] | None:
        """The earlier failure of this very body, if it was refused for good (a 4xx): sending it
        again would fail again. A changed body, or a transient failure, is sent again."""
        text = key.text()
        refused = self.failed.get(text)
        if not refused or text in self.accepted:
            return None
        digest = body_digest(body)
        if refused == _short(digest):
            return {**key.fields(), "result": "failed", "transient": False, "digest": digest}
        return None

    # writing ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, api_url: str, private_key: str,
             rebind: bool = False, sync_every: float = 1.0) -> StateFile:
        """Open (or create) for a run: lock it, load it, check it belongs to this account and
        destination, and repair a torn last line."""
        state = cls(path)
        state._sync_every = sync_every
        check_writable(state.path, "--state")
        try:
            fd = os.open(state.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise UserError(f"cannot open the state file: {error.strerror}", where=str(state.path)) from None
        state._fd = fd
        try:
            _lock(fd, state.path)
            os.lseek(fd, 0, os.SEEK_SET)
            with open(fd, "rb", closefd=False) as handle:
                state._load(_lines(handle))
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # the next line must not glue onto a torn one
            api_url = api_url.rstrip("/")
            if state.header is None:
                state._write_header(api_url, private_key)
            else:
                state._check_header(api_url, private_key, rebind)
            os.fsync(fd)
        except BaseException:
            state.close()
            raise
        return state

    def _write_header(self, api_url: str, private_key: str) -> None:
        salt = secrets.token_hex(8)
        header = {"state": self.HEADER, "version": self.VERSION, "api_url": api_url,
                  "account": _account(salt, private_key), "salt": salt, "created_at": now_iso()}
        self._append([header])
        self.header = header

    def _check_header(self, api_url: str, private_key: str, rebind: bool) -> None:
        header = self.header or {}
        problems = []
        if header.get("api_url") != api_url:
            problems.append(f"it was written for {header.get('api_url')!r}, not {api_url!r}")
        salt = str(header.get("salt", ""))
        if header.get("account") != _account(salt, private_key):
            problems.append("it was written with another private key (another account?)")
        if not problems:
            return
        if not rebind:
            raise UserError(
                f"the state file does not belong to this run: {'; and '.join(problems)}. It lists "
                f"{len(self.accepted)} accepted keys that this run would skip",
                where=str(self.path),
                hint="keep one state file per account and destination (--state FILE); if this is "
                     "the same account (e.g. a rotated key), pass --rebind-state")
        self._write_header(api_url, private_key)

    def _append(self, entries: list[dict[str, Any]]) -> None:
        if self._fd is None:
            raise RuntimeError("the state file is open read-only")
        data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries)
        os.write(self._fd, data.encode("utf-8"))  # one write: O_APPEND keeps lines whole
        self._dirty = True

    def record(self, result: Delivery) -> None:
        at = now_iso()
        entries = []
        for key, outcome in result.outcomes.items():
            entry: dict[str, Any] = {**key.fields(), "result": outcome, "status": result.status, "at": at}
            if outcome == "failed":
                entry["transient"] = result.transient
                entry["digest"] = body_digest(result.work.body)
                self._refused(key, entry)
            else:
                self.accepted.add(key.text())
            entries.append(entry)
        if entries:
            self._append(entries)
        self.maybe_sync()

    def maybe_sync(self, force: bool = False) -> None:
        if self._fd is None or not self._dirty:
            return
        now = time.monotonic()
        if force or now - self._last_sync >= self._sync_every:
            os.fsync(self._fd)
            self._last_sync = now
            self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.maybe_sync(force=True)
            finally:
                os.close(self._fd)  # also releases the lock
                self._fd = None


def _account(salt: str, private_key: str) -> str:
    return hmac.new(salt.encode(), private_key.encode(), hashlib.sha256).hexdigest()[:16]


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, documented
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise UserError("another run is using this state file right now",
                        where=str(path),
                        hint="wait for it to finish (two runs at once would send the same events)") from None


def _lines(handle) -> Iterator[bytes]:
    """The file's lines, each cut at `MAX_LINE_BYTES` (a file that is not a journal may have none)."""
    while line := handle.readline(MAX_LINE_BYTES):
        yield line


def _short(digest: str) -> int:
    """60 bits of a body's digest ("sha256:<hex>"), never 0: enough to tell a changed body."""
    try:
        return int(digest.removeprefix("sha256:")[:15], 16) or 1
    except ValueError:
        return 1
