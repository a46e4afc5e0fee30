"""The preview's plan worker: a process that loads a tracking plan and generates its files (in
memory), one request at a time, for `Preview` (harness/preview/_app.py), which kills it when a
load takes longer than its time limit or a newer save replaces it, and starts another.

Run as a script, never imported: the preview passes the two ends of its pipes (requests in,
outcomes out) as file descriptors. It imports only the generator, so it starts in a fraction of a
second, and it runs none of its parent's code (a fork would copy the preview's threads; a
multiprocessing child would import the parent's main script again). It says ("ready", None) once
it has imported the generator; then a request is (plan path,
public key or None, the key to use when neither has one); an outcome ("ok", (plan without its
YAML marks, files)), ("error", the UserError's text) or ("bug", the exception and its traceback).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # the folder of this script: its modules are not top-level names

import dataclasses  # noqa: E402 - after the path is tidied
import traceback  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

__all__ = ["serve"]


def serve(requests: Connection, outcomes: Connection) -> None:
    from klaviyo_snippets.generator import load_plan, render_files
    from klaviyo_snippets.generator.errors import UserError

    outcomes.send(("ready", None))  # the time limit of a load starts after the imports
    while True:
        try:
            plan_path, public_key, fallback_key = requests.recv()
        except EOFError:  # the preview closed (or died): so does its worker
            return
        try:
            plan = load_plan(plan_path)
            key = public_key or plan.public_key or fallback_key
            files = render_files(plan_path, public_key=None if (plan.public_key and not public_key) else key)
            outcome = ("ok", (dataclasses.replace(plan, marked=None), files))  # marks hold the YAML parser
        except UserError as error:
            outcome = ("error", str(error))
        except Exception as error:  # noqa: BLE001 - a bug: the preview reports it
            outcome = ("bug", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        outcomes.send(outcome)


if __name__ == "__main__":
    try:
        serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C reaches the whole process group; the preview left
        pass
