"""Reading the server-side commands' inputs in constant memory: the lines of a JSON Lines file or
the elements of a JSON array, a piece at a time, with their line numbers; a compact index of the
keys a run has seen (16 bytes a key); a bounded list of problems. Whatever the file's size, only
one line (at most `MAX_LINE_BYTES`) or one array element is held at a time.

The files are read twice by the commands (every line checked before anything is sent or written,
then read again to send or write), so they must be regular files: a pipe or a device is refused.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import stat
from array import array
from collections.abc import Iterator
from os import PathLike
from typing import Any, Protocol

from klaviyo_snippets.generator.errors import UserError

__all__ = ["MAX_LINE_BYTES", "ReadProgressSink", "Problems", "KeyIndex", "file_size", "read_lines",
           "read_json_array", "starts_with_bracket", "lone_surrogate"]

#: The longest line (or JSON array element) read: far more than any request Klaviyo accepts (5 MB).
MAX_LINE_BYTES = 16_000_000
_CHUNK = 1 << 20
_NUMBER_GOES_ON = ("", *"0123456789.eE+-")  # what may follow a number cut by a chunk's end


class ReadProgressSink(Protocol):
    def update(self, done: int, lines: int) -> None: ...


def file_size(path: str | PathLike[str], what: str) -> int:
    """The size of a regular file; a `UserError` for a missing file, a folder, a pipe or a device."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise UserError(f"cannot read the {what}: {error.strerror}", where=str(path)) from None
    except ValueError:  # a NUL in the path
        raise UserError(f"cannot read the {what}: a path cannot contain a NUL character",
                        where=repr(os.fspath(path))) from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"cannot read the {what}: it is a folder", where=str(path),
                        hint="give the path of a file")
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"cannot read the {what}: it is not a regular file (a pipe or a device)",
                        where=str(path), hint="give the path of a regular file")
    return info.st_size


def _open(path: str | PathLike[str], what: str):
    file_size(path, what)
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the generator that reads it
    except OSError as error:
        raise UserError(f"cannot read the {what}: {error.strerror}", where=str(path)) from None


def _not_utf8(path: Any, what: str, line: int, offset: int, error: UnicodeDecodeError) -> UserError:
    return UserError(f"not UTF-8 text ({error.reason} at byte {offset})", where=f"{path}:{line}",
                     hint=f"save the {what} as UTF-8")


def _too_long(path: Any, what: str, line: int) -> UserError:
    return UserError(f"line {line} is longer than {MAX_LINE_BYTES // 1_000_000} MB: not a "
                     f"{what} (no record is that large: Klaviyo accepts requests of at most 5 MB)",
                     where=f"{path}:{line}")


def read_lines(path: str | PathLike[str], what: str, *, problems: Problems | list | None = None,
               progress: ReadProgressSink | None = None, limit: int | None = None
               ) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) for each line of a UTF-8 file, read a line at a
    time. Lines split at "\\n" only (never at U+2028 inside a JSON string). A line that is not
    UTF-8 is a `UserError` naming the line and the byte: raised, or appended to `problems` and
    skipped. A line longer than `MAX_LINE_BYTES` is always raised. `limit`: stop after that many
    bytes (what an earlier pass saw, if lines were appended since)."""
    handle = _open(path, what)
    with handle:
        number, offset = 0, 0
        while limit is None or offset < limit:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise _too_long(path, what, number)
            start, offset = offset, offset + len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                problem = _not_utf8(path, what, number, start + error.start, error)
                if problems is None:
                    raise problem from None
                problems.append(problem)
                continue
            finally:
                if progress is not None:
                    progress.update(offset, number)
            yield number, text[:-1] if text.endswith("\n") else text


def starts_with_bracket(path: str | PathLike[str], what: str) -> bool:
    """True when the file's first non-blank character is `[` (a JSON array, not JSON Lines)."""
    with _open(path, what) as handle:
        while chunk := handle.read(_CHUNK):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


def read_json_array(path: str | PathLike[str], what: str, *,
                    progress: ReadProgressSink | None = None) -> Iterator[tuple[int, Any]]:
    """(index, element) for each element of a file holding one JSON array, parsed an element at
    a time (each at most `MAX_LINE_BYTES`). Bad JSON is a `UserError` naming the line."""
    handle = _open(path, what)
    decoder = json.JSONDecoder()
    with handle:
        reader = _TextReader(handle, path, what, progress)

        def fail(message: str, at: int) -> UserError:
            return UserError(message, where=f"{path}:{reader.line_of(at)}")

        pos = reader.skip_blank(0)
        if reader.char(pos) != "[":
            raise fail("not valid JSON: expected a JSON array ('[')", pos)
        pos, index = reader.skip_blank(pos + 1), 0
        if reader.char(pos) == "]":
            pos += 1
        else:
            while True:
                while True:
                    try:
                        value, end = decoder.raw_decode(reader.text, pos)
                    except json.JSONDecodeError as error:
                        if not reader.more(pos):
                            raise fail(f"not valid JSON: {error.msg}", error.pos) from None
                        continue
                    except (ValueError, RecursionError) as error:
                        reason = "nested too deeply" if isinstance(error, RecursionError) else \
                            "a number has more than 4300 digits"
                        raise fail(f"not usable JSON: {reason}", pos) from None
                    if isinstance(value, (int, float)) and not isinstance(value, bool) \
                            and reader.char(end, more=False) in _NUMBER_GOES_ON and reader.more(pos):
                        continue  # a number at the end of what was read may go on ("1" of "1.5")
                    break
                if (surrogate := lone_surrogate(reader.text[pos:end], value)) is not None:
                    raise fail(f"not usable JSON: {surrogate} is half of a UTF-16 pair, not a "
                               "character (it cannot be sent as UTF-8)", pos)
                yield index, value
                index += 1
                pos = reader.skip_blank(end)
                pos = reader.compact(pos)
                if reader.char(pos) == ",":
                    pos = reader.skip_blank(pos + 1)
                    continue
                if reader.char(pos) == "]":
                    pos += 1
                    break
                raise fail("not valid JSON: expected ',' or ']' after an array element", pos)
        pos = reader.skip_blank(pos)
        if reader.char(pos) != "":
            raise fail("not valid JSON: extra data after the array", pos)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(text: str, value: Any) -> str | None:
    """The first lone UTF-16 surrogate in the JSON `value` parsed from `text` (an escape such
    as \\udcff without its pair: not a character, and not encodable as UTF-8), or None. Only
    a text with such an escape is searched."""
    if not _SURROGATE_ESCAPE.search(text):
        return None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(error.object[error.start]):04x}"
    return None


class _TextReader:
    """The decoded text of a file, read a chunk at a time, with the consumed part dropped."""

    def __init__(self, handle, path: Any, what: str, progress: ReadProgressSink | None):
        self.handle, self.path, self.what, self.progress = handle, path, what, progress
        self.text = ""
        self.dropped_lines = 0  # newlines in the part of the text already dropped
        self.offset = 0  # bytes read
        self.pending = b""  # the start of a character cut by the chunk boundary
        self.eof = False

    def more(self, start: int) -> bool:
        """Read another chunk (False at the end of the file); the element from `start` on must
        stay under the size limit."""
        if self.eof:
            return False
        if len(self.text) - start > MAX_LINE_BYTES:
            raise UserError(f"an array element is longer than {MAX_LINE_BYTES // 1_000_000} MB: not a "
                            f"{self.what} (no record is that large)",
                            where=f"{self.path}:{self.line_of(start)}")
        chunk = self.handle.read(_CHUNK)
        data = self.pending + chunk
        base = self.offset - len(self.pending)
        self.offset += len(chunk)
        if not chunk:
            self.eof = True
        try:
            decoded, self.pending = data.decode("utf-8"), b""
        except UnicodeDecodeError as error:
            if not self.eof and error.reason == "unexpected end of data":
                decoded, self.pending = data[:error.start].decode("utf-8"), data[error.start:]
            else:
                line = self.line_of(len(self.text)) + data.count(b"\n", 0, error.start)
                raise _not_utf8(self.path, self.what, line, base + error.start, error) from None
        self.text += decoded
        if self.progress is not None:
            self.progress.update(self.offset, self.line_of(len(self.text)))
        return bool(chunk)

    def char(self, pos: int, *, more: bool = True) -> str:
        """The character at `pos` ("" past the end of the file; with `more=False`, past the end
        of what was read)."""
        while pos >= len(self.text):
            if not more or not self.more(pos):
                return ""
        return self.text[pos]

    def skip_blank(self, pos: int) -> int:
        while self.char(pos) in (" ", "\t", "\n", "\r"):
            pos += 1
        return pos

    def compact(self, pos: int) -> int:
        if pos < _CHUNK:
            return pos
        self.dropped_lines += self.text.count("\n", 0, pos)
        self.text = self.text[pos:]
        return 0

    def line_of(self, pos: int) -> int:
        return self.dropped_lines + self.text.count("\n", 0, pos) + 1


class Problems:
    """The first `keep` problems of a run and the count of all: a file of a million bad lines is
    reported in a few lines, not held as a million errors."""

    def __init__(self, keep: int = 10):
        self.keep = keep
        self.first: list[Any] = []
        self.count = 0

    def append(self, problem: Any) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(problem)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0


_MASK = (1 << 64) - 1


def _fingerprint(text: str) -> tuple[int, int]:
    """128 bits of `text`: two SipHash values under this process's random key (Python's own
    string hash, of the text and of the text with a NUL added: independent outputs of a keyed
    function). Not stable across processes, and not meant to be: the index lives in one."""
    return hash(text) & _MASK, hash(text + "\0") & _MASK


class KeyIndex:
    """A set of texts, each with a whole number (a line, a digest; 0 by default), in about 24
    bytes a key where a Python set of a million strings takes ~100 MB. A key is its 128-bit
    fingerprint (two different keys share one with a chance of about 1 in 10^18 among ten
    billion keys), kept in a bucket chosen by its first bits, each bucket three sorted arrays
    (the fingerprint's halves and the values): a lookup is a binary search, an insertion a move
    of the bucket's tail. Buckets split in two when they average 512 keys."""

    _SPLIT_AT = 512

    def __init__(self) -> None:
        self._bits = 4
        self._buckets: list[tuple[array, array, array]] = [
            (array("Q"), array("Q"), array("q")) for _ in range(1 << self._bits)]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self._find(*_fingerprint(text))[2]

    def get(self, text: str, default: int | None = None) -> int | None:
        bucket, index, found = self._find(*_fingerprint(text))
        return bucket[2][index] if found else default

    def set(self, text: str, value: int = 0) -> None:
        hi, lo = _fingerprint(text)
        bucket, index, found = self._find(hi, lo)
        if found:
            bucket[2][index] = value
            return
        bucket[0].insert(index, hi)
        bucket[1].insert(index, lo)
        bucket[2].insert(index, value)
        self._size += 1
        if self._size > self._SPLIT_AT << self._bits:
            self._split()

    def add(self, text: str) -> None:
        """Add `text` (keeping its value if it is already there)."""
        if text not in self:
            self.set(text)

    def _find(self, hi: int, lo: int) -> tuple[tuple[array, array, array], int, bool]:
        """(the key's bucket, where the key is or would go in it, whether it is there)."""
        bucket = self._buckets[hi >> (64 - self._bits)]
        his, los, _ = bucket
        index = bisect.bisect_left(his, hi)
        while index < len(his) and his[index] == hi:
            if los[index] >= lo:
                return bucket, index, los[index] == lo
            index += 1
        return bucket, index, False

    def _split(self) -> None:
        """Twice the buckets: each splits where the next bit of its keys turns to 1."""
        self._bits += 1
        buckets = []
        for number, (his, los, values) in enumerate(self._buckets):
            cut = bisect.bisect_left(his, (2 * number + 1) << (64 - self._bits))
            buckets.append((his[:cut], los[:cut], values[:cut]))
            buckets.append((his[cut:], los[cut:], values[cut:]))
        self._buckets = buckets
