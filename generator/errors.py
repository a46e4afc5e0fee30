"""User-facing errors: each formats its own message with where it happened and how to fix it.

The CLI catches `UserError` and prints its message without a traceback; anything else is a bug.
"""

from __future__ import annotations

__all__ = ["UserError", "printable"]


class UserError(Exception):
    """A mistake in the user's input: a plan, a key, an option, an orders file.

    `where` names the place (``plan.yaml:12 at /events/3/properties``), `hint` how to fix it.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def printable(text: str) -> str:
    """`text` with every character a terminal would act on or reorder (control characters, a
    right-to-left override, other invisible format characters) written as a Python escape
    (``\\u202e``); line breaks are kept."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text)
