"""Load YAML while remembering where every value came from (line and column per JSON pointer).

Plan errors point at ``plan.yaml:12:5 at /events/added_to_cart/properties/$value``; this module
supplies the line. It also refuses duplicate keys (PyYAML silently keeps the last one) and keeps
dates as strings (YAML 1.1 would turn ``2023-10-15`` into a ``date`` that JSON cannot carry).

Two ways to the same data: a fast one that builds it straight from the parser's events (plain
mappings, lists, scalars, anchors, aliases and ``<<`` merges: what plans are made of), and the
general one (compose the node graph, check it, construct it) for everything else and for every
error, so messages and edge cases are the general loader's. Node marks are composed only when an
error needs a line.

Hostile YAML is refused where it is written, before anything walks the data (`_check_events`):
a tag other than those of plain values (``!!set``, ``!!binary``, ``!!timestamp``, ``!custom``),
aliases that repeat more than `MAX_ALIAS_VALUES` values in all (an alias bomb: 12 lines that
expand to billions of values), and lists and mappings nested more than `MAX_DEPTH` levels,
counting what aliases repeat. The fast way counts the same as it goes and hands any of these to
the general way, which says where. Every place and pointer in a message is `printable`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from klaviyo_snippets.generator.errors import UserError, printable

__all__ = ["Marked", "load_yaml", "pointer", "escape_pointer", "MAX_ALIAS_VALUES", "MAX_DEPTH"]


#: The most values aliases may repeat in a plan, in all: each alias counts every value its anchor
#: holds, the lists and mappings themselves and their keys included (``*a`` of ``&a [x, y]``: 3).
MAX_ALIAS_VALUES = 100_000
#: The deepest a plan's lists and mappings may nest (the document's own mapping is level 1),
#: counting what aliases repeat.
MAX_DEPTH = 100
#: The tags a plan may write: those YAML gives plain values anyway ("!" forces text).
_TAGS = frozenset({"!"} | {"tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "seq", "map")})

#: What YAML refuses to read (PyYAML's reader, libyaml alike): control characters but tab and
#: line breaks, and the noncharacters U+FFFE, U+FFFF.
_NOT_YAML = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")

# libyaml's parser when PyYAML was built with it: ten times faster on a large plan.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """SafeLoader without the timestamp and value resolvers: dates stay the strings the user
    wrote, and ``=`` is text (YAML 1.1's "value key", which no constructor takes)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader, node) -> int | float:
    """An integer, or infinity for one of more digits than Python converts (4,300): far past what
    JavaScript holds, and refused as such with its place (`check_values`), not a ValueError."""
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        return math.inf


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def escape_pointer(token: Any) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(parts) -> str:
    """RFC 6901 JSON pointer for a path of keys and indexes."""
    return "".join("/" + escape_pointer(p) for p in parts) or ""


class Marked:
    """The loaded data and, on demand, each JSON pointer's 1-based (line, column) in the file.

    Marks are collected only when an error needs one: a valid plan never pays for them."""

    def __init__(self, data: Any, node: yaml.Node | None, loader: Any, path: Path, text: str):
        self.data = data
        self.path = path
        self.text = text
        self._node = node
        self._loader = loader
        self._tables: tuple[dict, dict, set] | None = None

    def _marks(self) -> tuple[dict, dict, set]:
        if self._tables is None and self._node is None:  # loaded the fast way: compose now
            loader = _Loader(self.text)
            try:
                self._node = loader.get_single_node()
            finally:
                loader.dispose()
            self._loader = loader
            if self._node is None:  # pragma: no cover - the fast way refuses empty documents
                self._tables = ({}, {}, set())
        if self._tables is None:
            marks: dict[str, tuple[int, int]] = {}
            key_marks: dict[str, tuple[int, int]] = {}
            containers: set[str] = set()
            _collect(self._node, [], marks, key_marks, self._loader, set(), containers)
            self._tables = (marks, key_marks, containers)
        return self._tables

    def _mark(self, ptr: str, key: bool) -> tuple[int, int]:
        """The key's position for a mapping entry asked as a key or holding a container (its
        value starts on the next line), else the value's; the nearest parent when unknown."""
        marks, key_marks, containers = self._marks()
        probe = ptr
        while probe and probe not in marks and probe not in key_marks:
            probe = probe.rsplit("/", 1)[0]
        if probe in key_marks and (key or probe in containers or probe not in marks):
            return key_marks[probe]
        return marks.get(probe, (1, 1))

    def where(self, ptr: str, *, key: bool = False, shown: str | None = None) -> str:
        """``file:line:col at /pointer`` for the nearest place the pointer (or a parent) was seen;
        ``shown`` replaces the pointer in the text (when it holds a secret)."""
        line, col = self._mark(ptr, key)
        return printable(f"{self.path}:{line}:{col} at {shown or ptr or '/'}")

    def line_of(self, ptr: str) -> int:
        return self._mark(ptr, False)[0]


def load_yaml(path: Path) -> Marked:
    if "\0" in str(path):  # no file system takes one; open() raises ValueError
        at = str(path).index("\0") + 1
        raise UserError(
            f"the plan's path {printable(str(path))} holds a NUL character (at character {at}); "
            "no file can have that name",
            where="--plan",
            hint="pass --plan with the path of your plan's YAML file",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"no tracking plan at {path}",
            hint="pass --plan with the path of your plan, or omit it to use the default plan",
        ) from None
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start})",
            hint="save the plan as UTF-8",
        ) from None
    except IsADirectoryError:
        raise UserError(
            f"{path} is a folder, not a tracking plan",
            hint="pass --plan with the path of your plan's YAML file",
        ) from None
    except OSError as err:
        raise UserError(
            f"cannot read the tracking plan {path}: {err.strerror}",
            hint="check the file's permissions (it must be readable by you), or pass another --plan",
        ) from None
    bad = _NOT_YAML.search(text)
    if bad:
        at = bad.start()
        raise UserError(
            f"the character U+{ord(bad.group()):04X} is not allowed in YAML (of the control characters, "
            "only tab and line breaks are)",
            where=printable(f"{path}:{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}"),
            hint="remove it: a plan is text; a NUL usually means the file was saved in another "
                 "encoding (UTF-16) or binary format, other control characters were pasted invisibly",
        )
    try:
        data = _fast_load(text)
    except Exception:  # anything unusual, and every error: the general way decides and explains
        pass
    else:
        if "\\u" in text or "\\U" in text:  # only escapes can make UTF-16 surrogates
            data = _join_surrogates(data, [], path, None)
        return Marked(data, None, None, path, text)
    _check_events(text, path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UserError(
                "the tracking plan is empty",
                where=f"{path}:1:1",
                hint="start from the default plan: klaviyo-snippets init my-plan.yaml writes a copy",
            )
        _check_duplicates(node, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = _place(path, mark) if mark else printable(str(path))
        problem = err.problem or "invalid YAML"
        if err.context:
            problem = f"{problem} ({err.context})"
        hint = ("check the indentation and quoting on this line and the one before it; "
                "quote values that contain ': ', '#', '{' or start with '*', '&', '!', '@' or '`'")
        if mark and "\t" in _indentation(text, mark.line):
            problem = "tabs are not allowed for indentation in YAML; use spaces"
            hint = "replace the tabs at the start of this line with spaces (and set your editor to indent with spaces)"
        elif mark and re.search(r"[^\s\[{,]\[[0-9]*\]", _line(text, mark.line)):
            hint = ("inside { } or [ ], quote a path with an index or []: "
                    "{type: string, from: \"product.variants[0].sku\"}")
        raise UserError(f"YAML syntax error: {problem}", where=where, hint=hint) from None
    except yaml.YAMLError as err:
        raise UserError(printable(f"YAML error: {err}"), where=printable(str(path))) from None
    finally:
        loader.dispose()
    try:
        data = _join_surrogates(data, [], path, node)
    except RecursionError:
        raise UserError(
            "an alias refers to a collection that contains it (a recursive alias)",
            where=printable(str(path)),
            hint="a tracking plan is a tree: copy the values instead of aliasing an enclosing list or mapping",
        ) from None
    return Marked(data, node, loader, path, text)


def _place(path: Path, mark) -> str:
    return printable(f"{path}:{mark.line + 1}:{mark.column + 1}")


def _check_events(text: str, path: Path) -> None:
    """Refuse, where it is written, a tag a plan does not use, an alias with which aliases repeat
    more than `MAX_ALIAS_VALUES` values, and a list or mapping (or what an alias repeats) deeper
    than `MAX_DEPTH` levels. Reads the parser's events only: nothing is built or expanded, so a
    bomb costs no more than its text. A syntax error ends the check (the loader then says where)."""
    loader = _Loader(text)
    extent: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels) of what it names
    open_: list[list] = []  # per open list or mapping: [values, levels below it, anchor]
    repeated = 0
    try:
        while True:
            event = loader.get_event()
            kind = event.__class__
            if kind in (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent):
                if event.tag is not None and event.tag not in _TAGS:
                    shown = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
                    raise UserError(
                        printable(f"YAML tag {shown} is not used in a tracking plan"),
                        where=_place(path, event.start_mark),
                        hint="remove the tag: a plan holds text, numbers, true/false, null, lists and mappings "
                             "(quote a text that starts with '!')",
                    )
            if kind is yaml.ScalarEvent:
                size, levels = 1, 0
                if event.anchor is not None:
                    extent[event.anchor] = (1, 0)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if len(open_) >= MAX_DEPTH:
                    raise _too_deep(path, event.start_mark)
                open_.append([1, 0, event.anchor])
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                size, levels, anchor = open_.pop()
                levels += 1
                if anchor is not None:
                    extent[anchor] = (size, levels)
            elif kind is yaml.AliasEvent:
                size, levels = extent.get(event.anchor, (1, 0))  # unknown: the loader says why
                repeated += size
                if repeated > MAX_ALIAS_VALUES:
                    raise UserError(
                        f"with the alias *{event.anchor}, aliases repeat more than {MAX_ALIAS_VALUES:,} values: "
                        "far more than a tracking plan holds (an alias bomb?)",
                        where=_place(path, event.start_mark),
                        hint="an alias repeats everything its anchor (&name) holds, aliases inside it included; "
                             "write the values out, or alias smaller parts",
                    )
                if len(open_) + levels > MAX_DEPTH:
                    raise _too_deep(path, event.start_mark, event.anchor)
            elif kind is yaml.StreamEndEvent:
                return
            else:
                continue
            if open_:
                parent = open_[-1]
                parent[0] += size
                if levels > parent[1]:
                    parent[1] = levels
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _too_deep(path: Path, mark, alias: str | None = None) -> UserError:
    counting = f" (counting what the alias *{alias} repeats)" if alias else ""
    return UserError(
        f"lists and mappings nest more than {MAX_DEPTH} levels deep here{counting}",
        where=_place(path, mark),
        hint="a tracking plan needs a few levels (Klaviyo keeps 10 levels of nesting in event properties); "
             "flatten this value",
    )


def _line(text: str, line: int) -> str:
    """A 0-based line of the text ("" past its end)."""
    lines = text.splitlines()
    return lines[line] if line < len(lines) else ""


def _indentation(text: str, line: int) -> str:
    """The leading blanks (spaces and tabs) of a 0-based line of the text."""
    row = _line(text, line)
    return row[: len(row) - len(row.lstrip(" \t"))]


class _Unusual(Exception):
    """Something the fast way leaves to the general loader."""


_MERGE = object()
_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("bool", "int", "float", "null")
)


def _fast_load(text: str) -> Any:
    """The document built straight from the parser's events, as the general loader would build
    it, or `_Unusual` (or a YAML error) when the fast way does not apply."""
    loader = _Loader(text)
    resolvers = _Loader.yaml_implicit_resolvers
    constructors = loader.yaml_constructors
    get = loader.get_event
    scalar_node = yaml.ScalarNode
    Scalar, MapStart, MapEnd = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
    SeqStart, SeqEnd, Alias = yaml.SequenceStartEvent, yaml.SequenceEndEvent, yaml.AliasEvent
    if resolvers.get(None):  # pragma: no cover - SafeLoader has no wildcard resolvers
        raise _Unusual
    anchors: dict[str, Any] = {}
    extent: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels), as `_check_events` counts
    repeated = 0
    named: set[str] = set()  # anchors seen so far (a second one of a name is an error)
    # A frame per open collection: [list or pairs, is mapping, expecting a key, raw keys seen,
    # anchor, values (itself and all below it), levels below it]
    frames: list[list] = []
    root: list = []
    try:
        if get().__class__ is not yaml.StreamStartEvent or get().__class__ is not yaml.DocumentStartEvent:
            raise _Unusual
        while True:
            event = get()
            kind = event.__class__
            if kind is not Alias and getattr(event, "anchor", None) is not None:
                if event.anchor in named:
                    raise _Unusual
                named.add(event.anchor)
            if kind is Scalar:
                value = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    if event.implicit[0]:
                        for candidate, regexp in resolvers.get(value[:1], ()) if value else resolvers.get("", ()):
                            if regexp.match(value):
                                if candidate == "tag:yaml.org,2002:merge":
                                    value = _MERGE
                                elif candidate in _SCALAR_TAGS:
                                    value = constructors[candidate](loader, scalar_node(candidate, value))
                                else:
                                    raise _Unusual
                                break
                elif tag != _STR:
                    raise _Unusual
                size = 1
                levels = 0
                if event.anchor is not None:
                    anchors[event.anchor] = value
                    extent[event.anchor] = (1, 0)
            elif kind is MapStart:
                if event.tag not in (None, "!", "tag:yaml.org,2002:map") or len(frames) >= MAX_DEPTH:
                    raise _Unusual
                frames.append([[], True, True, set(), event.anchor, 1, 0])
                continue
            elif kind is SeqStart:
                if event.tag not in (None, "!", "tag:yaml.org,2002:seq") or len(frames) >= MAX_DEPTH:
                    raise _Unusual
                frames.append([[], False, False, None, event.anchor, 1, 0])
                continue
            elif kind is MapEnd:
                pairs, _, _, _, anchor, size, levels = frames.pop()
                value = _mapping(pairs)
                levels += 1
                if anchor is not None:
                    anchors[anchor] = value
                    extent[anchor] = (size, levels)
            elif kind is SeqEnd:
                value, _, _, _, anchor, size, levels = frames.pop()
                levels += 1
                if anchor is not None:
                    anchors[anchor] = value
                    extent[anchor] = (size, levels)
            elif kind is Alias:
                if event.anchor not in anchors:  # an alias of an enclosing collection
                    raise _Unusual
                value = anchors[event.anchor]
                if frames and frames[-1][1] and frames[-1][2]:  # an alias as a key
                    raise _Unusual
                size, levels = extent[event.anchor]
                repeated += size
                if repeated > MAX_ALIAS_VALUES or len(frames) + levels > MAX_DEPTH:
                    raise _Unusual  # the general way says where
            elif kind is yaml.DocumentEndEvent:
                break
            else:
                raise _Unusual
            if not frames:
                root.append(value)
                continue
            frame = frames[-1]
            frame[5] += size
            if levels > frame[6]:
                frame[6] = levels
            if not frame[1]:
                frame[0].append(value)
            elif frame[2]:
                if kind is not Scalar:  # a complex key
                    raise _Unusual
                if value is not _MERGE:
                    if event.value in frame[3]:  # a duplicate key: the general way says where
                        raise _Unusual
                    frame[3].add(event.value)
                frame[0].append(value)
                frame[2] = False
            else:
                frame[0].append(value)
                frame[2] = True
        if get().__class__ is not yaml.StreamEndEvent or len(root) != 1:
            raise _Unusual
        return root[0]
    finally:
        loader.dispose()


def _mapping(flat: list) -> dict:
    """A mapping from its keys and values in order, with ``<<`` merges resolved the way PyYAML
    does: merged entries first (of a list of mappings, the last one's first), then the
    mapping's own, which win."""
    keys = flat[0::2]
    values = flat[1::2]
    if _MERGE not in keys:
        out = dict(zip(keys, values))
        if len(out) != len(keys):  # keys that differ in the file but not as data (yes, true)
            raise _Unusual
        return out
    merged: list = []
    own: list = []
    for key, value in zip(keys, values):
        if key is not _MERGE:
            own.append((key, value))
        elif isinstance(value, dict):
            merged.extend(value.items())
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for sub in reversed(value):
                merged.extend(sub.items())
        else:
            raise _Unusual
    if len({key for key, _ in own}) != len(own):
        raise _Unusual
    out = dict(merged)
    out.update(own)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str, parts: list, path: Path) -> str:
    """YAML's "\\ud83d\\ude00" escapes give two surrogates: make them the one character they
    encode. A lone surrogate cannot be written to any file: refuse it."""
    if not _SURROGATE.search(value):
        return value
    try:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise UserError(
            f"lone UTF-16 surrogate in {value!r}",
            where=f"{path} at {pointer(parts) or '/'}",
            hint="write the character itself, or escape a whole surrogate pair (\\ud83d\\ude00)",
        ) from None


def _join_surrogates(value: Any, parts: list, path: Path, node) -> Any:
    if isinstance(value, str):
        return _text(value, parts, path)
    if isinstance(value, list):
        return [_join_surrogates(v, parts + [i], path, node) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            (_text(k, parts, path) if isinstance(k, str) else k): _join_surrogates(v, parts + [k], path, node)
            for k, v in value.items()
        }
    return value


def _key_of(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return id(node)


def _check_duplicates(node: yaml.Node, path: Path, seen: set[int] | None = None) -> None:
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _check_duplicates(value_node, path, seen)
                continue
            key = _key_of(key_node)
            if key in first:
                line = first[key].start_mark.line + 1
                mark = key_node.start_mark
                raise UserError(
                    f"duplicate key {key_node.value!r} (first defined on line {line})",
                    where=f"{path}:{mark.line + 1}:{mark.column + 1}",
                    hint="YAML keeps only the last one; remove or rename one of them",
                )
            first[key] = key_node
            _check_duplicates(value_node, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, path, seen)


def _collect(node, parts, marks, key_marks, loader, stack, containers) -> None:
    if id(node) in stack:  # a recursive alias: nothing more to learn
        return
    ptr = pointer(parts)
    marks.setdefault(ptr, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
        containers.add(ptr)
    if isinstance(node, yaml.MappingNode):
        stack = stack | {id(node)}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # a merged mapping's entries are marked where it is defined
            key = loader.construct_object(key_node) if key_node.tag != "tag:yaml.org,2002:str" else key_node.value
            child = parts + [key]
            key_marks.setdefault(pointer(child), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _collect(value_node, child, marks, key_marks, loader, stack, containers)
    elif isinstance(node, yaml.SequenceNode):
        stack = stack | {id(node)}
        for index, item in enumerate(node.value):
            _collect(item, parts + [index], marks, key_marks, loader, stack, containers)
