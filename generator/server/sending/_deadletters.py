"""The dead-letter file: what failed for good (a 4xx other than 429, or retries exhausted), one
JSON line each with the body, status and reason; replayable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import redact
from klaviyo_snippets.generator.server._bodies import parse_json, read_text
from klaviyo_snippets.generator.server._stream import KeyIndex
from klaviyo_snippets.generator.server.sending._journal import now_iso
from klaviyo_snippets.generator.server.sending._settings import check_writable
from klaviyo_snippets.generator.server.sending._work import Delivery, Key, Work

__all__ = ["DeadLetters"]


class DeadLetters:
    """Appends what failed for good, one JSON line each (created on the first failure):

        {"failed_at": "...", "path": "/api/events", "metric": "Placed Order", "unique_id": "1234",
         "status": 400, "reason": "400 invalid at /data/attributes/...: ...", "attempts": 1,
         "transient": false, "state": "/abs/path/orders.jsonl.sync-state",
         "body": {...the request body...}}

    A catalog line has `"catalog_items": [ids]` instead of metric and unique_id, and `body` is a
    bulk job of just the failed items. Each line is written and fsynced at once.
    """

    def __init__(self, path: str | os.PathLike[str], *, state_path: str | os.PathLike[str] | None = None):
        self.path = Path(path)
        check_writable(self.path, "--dead-letter")  # now, not at the first failure, when it is too late
        self.state_path = None if state_path is None else str(Path(state_path).resolve())
        self.count = 0
        self._failed = KeyIndex()  # the keys written, ~24 bytes each however many fail
        self._handle: TextIO | None = None

    def add(self, result: Delivery, *, secret: str | None = None) -> None:
        work = result.failed_work()
        if work is None:
            return
        entry: dict[str, Any] = {"failed_at": now_iso(), "path": work.path}
        if len(work.keys) == 1 and work.keys[0].kind == "event":
            entry.update(work.keys[0].fields())
        else:
            entry["catalog_items"] = [key.id for key in work.keys]
        reasons = sorted({result.reasons.get(k, result.reason or "") for k in work.keys})
        entry.update(status=result.status, reason=redact("; ".join(r for r in reasons if r), secret),
                     attempts=result.attempts, transient=result.transient, state=self.state_path,
                     body=work.body)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        if self._handle is None:  # customers' data: readable by its owner only, like the state file
            self._handle = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                                     "a", encoding="utf-8")
        self._handle.write(redact(line, secret) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.count += len(work.keys)
        for key in work.keys:
            self._failed.add(key.text())

    def has_failed(self, key: Key) -> bool:
        """Whether this run wrote `key` to the file."""
        return key.text() in self._failed

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any], Work]]:
        """The entries of a dead-letter file, each with its line number and the work to resend.
        The body is read from the file, so a body fixed by hand is sent as fixed."""
        hint = ("each line is {\"path\": ..., \"body\": {...}, ...} as the sender wrote it; a body "
                "may be edited, not the shape")
        entries = []
        for number, line in enumerate(read_text(path, "dead-letter file").split("\n"), start=1):
            if not line.strip():
                continue
            entry = parse_json(line, str(path), line=number, hint=hint)
            try:
                work = Work.for_path(entry["path"], entry["body"])
            except (ValueError, KeyError, TypeError) as error:
                detail = error.args[0] if isinstance(error, ValueError) and error.args else \
                    f"missing {error}" if isinstance(error, KeyError) else "not a dead-letter entry"
                raise UserError(f"not a dead-letter entry: {detail}", where=f"{path}:{number}",
                                hint=hint) from None
            entries.append((number, entry, work))
        return entries
