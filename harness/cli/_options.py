"""argparse types shared by every `klaviyo-snippets` command: a bad value is a usage error
(exit 2, the command's usage and the reason), never a traceback."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from klaviyo_snippets.generator.errors import UserError

__all__ = ["port_number", "positive_int", "positive_seconds", "checked"]


def port_number(text: str) -> int:
    """A TCP port, 0 meaning any free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0 (any free port) to 65535")
    return port


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, more than 0 and finite."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give seconds, more than 0 (e.g. 10 or 2.5)")
    return seconds


def checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser that raises `UserError`."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except UserError as error:
            hint = f" ({error.hint})" if error.hint else ""
            raise argparse.ArgumentTypeError(error.message + hint) from None
    return convert
