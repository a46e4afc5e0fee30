"""Reading the server-side inputs a piece at a time (generator/server/_stream.py): lines with
their numbers, JSON array elements across chunk boundaries (the chunk made tiny, so every
boundary case is met in a small file), the compact key index, and what is refused (pipes,
devices, lines past the limit)."""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server import _stream
from klaviyo_snippets.generator.server._stream import KeyIndex, Problems, read_json_array, read_lines

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(elements=st.lists(JSON_VALUES, max_size=8), chunk=st.integers(1, 9), indent=st.sampled_from([None, 1]))
def test_a_json_array_is_read_element_by_element_whatever_the_chunk_boundaries(tmp_path_factory, elements,
                                                                                chunk, indent):
    path = tmp_path_factory.mktemp("array") / "a.json"
    path.write_text(json.dumps(elements, indent=indent, ensure_ascii=False), encoding="utf-8")
    saved, _stream._CHUNK = _stream._CHUNK, chunk
    try:
        read = [value for _, value in read_json_array(path, "products file")]
    finally:
        _stream._CHUNK = saved
    assert read == elements


@pytest.mark.parametrize("text, line, words", [
    ('[{"a": 1},\n {"b": 2}\n {"c": 3}]', 3, "expected ',' or ']'"),
    ('[{"a": 1},\n {"b": }]', 2, "not valid JSON"),
    ('[1, 2]\n[3]', 2, "extra data after the array"),
    ('[1, 2', 1, "expected ',' or ']'"),
    ('[1,\n\n 2,\n 3', 4, "expected ',' or ']'"),
    ('{"a": 1}', 1, "expected a JSON array"),
    ('[' * 5000 + ']' * 5000, 1, "nested too deeply"),
])
def test_a_bad_json_array_names_the_line(tmp_path, monkeypatch, text, line, words):
    monkeypatch.setattr(_stream, "_CHUNK", 3)
    path = tmp_path / "products.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        list(read_json_array(path, "products file"))
    assert caught.value.where == f"{path}:{line}" and words in caught.value.message


def test_a_character_cut_by_a_chunk_boundary_is_read_whole_and_bad_bytes_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(_stream, "_CHUNK", 1)
    path = tmp_path / "a.json"
    path.write_bytes('["é日🙂", "x"]'.encode())
    assert [v for _, v in read_json_array(path, "products file")] == ["é日🙂", "x"]
    path.write_bytes(b'["ok",\n "\xff"]')
    with pytest.raises(UserError) as caught:
        list(read_json_array(path, "products file"))
    assert caught.value.where == f"{path}:2" and "not UTF-8 text" in caught.value.message
    assert "at byte 9" in caught.value.message


def test_lines_are_numbered_split_at_newlines_only_and_bad_utf8_is_collected(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b'{"a": "x\xe2\x80\xa8y"}\n\n\xff\xfe\nlast')
    problems = Problems(keep=5)
    assert list(read_lines(path, "orders file", problems=problems)) == [
        (1, '{"a": "x\u2028y"}'), (2, ""), (4, "last")]
    assert len(problems) == 1 and problems.first[0].where == f"{path}:3"
    assert "at byte 16" in problems.first[0].message
    with pytest.raises(UserError, match="not UTF-8"):
        list(read_lines(path, "orders file"))
    assert list(read_lines(path, "orders file", limit=16)) == [(1, '{"a": "x\u2028y"}'), (2, "")]


def test_problems_keep_the_first_few_and_count_them_all():
    problems = Problems(keep=3)
    for n in range(1000):
        problems.append(n)
    assert problems.first == [0, 1, 2] and len(problems) == 1000 and problems


def test_a_line_past_the_limit_is_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_stream, "MAX_LINE_BYTES", 100)
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"{}\n" + b"x" * 500 + b"\n{}\n")
    with pytest.raises(UserError) as caught:
        list(read_lines(path, "orders file", problems=Problems()))  # even when collecting problems
    assert caught.value.where == f"{path}:2" and "line 2 is longer than" in caught.value.message


@pytest.mark.parametrize("kind", ["pipe", "folder", "device", "missing", "nul"])
def test_only_regular_files_are_read(tmp_path, kind):
    """A pipe would block (and is read twice), /dev/zero never ends, a folder is no file."""
    path = {"pipe": tmp_path / "fifo", "folder": tmp_path, "device": "/dev/zero",
            "missing": tmp_path / "nope", "nul": f"{tmp_path}/a\0b"}[kind]
    if kind == "pipe":
        os.mkfifo(path)
    words = {"pipe": "not a regular file", "folder": "it is a folder", "device": "not a regular file",
             "missing": "No such file", "nul": "NUL character"}[kind]
    for read in (lambda: list(read_lines(path, "orders file")),
                 lambda: list(read_json_array(path, "products file"))):
        with pytest.raises(UserError, match=words):
            read()


def test_the_key_index_is_a_set_with_values_that_survives_its_buckets_splitting():
    index = KeyIndex()
    expected: dict[str, int] = {}
    rng = random.Random(7)
    for n in range(30_000):
        key = f"Ordered Product\0{rng.randrange(20_000)}-{n % 3}"
        value = rng.randrange(-2**62, 2**62)
        if rng.random() < 0.5:
            index.set(key, value)
            expected[key] = value
        else:
            index.add(key)
            expected.setdefault(key, 0)
    assert len(index) == len(expected)
    assert all(index.get(key) == value and key in index for key, value in expected.items())
    assert not any(f"absent {n}" in index for n in range(5000))
    assert index.get("absent", -1) == -1 and 7 not in index
