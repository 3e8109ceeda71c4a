"""A resident mypy: the helper process ``tasks.mypy`` keeps, so that each check pays neither
mypy's start (about 190 ms of imports) nor a new interpreter.

Run as a script by the server's interpreter (``python tasks/mypy_resident.py``), it reads one
JSON request a line on stdin (``{"argv": [...], "cwd": "..."}``: mypy's arguments and the
private directory the document is in) and writes one JSON line back (``{"stdout": ...,
"status": n}``). It imports mypy and nothing of the project's, reads no configuration (its
``HOME`` is an empty private directory, and the document's directory holds none), and runs one
check at a time.
"""

from __future__ import annotations

import json
import os
import sys


def serve() -> int:
    from mypy import api

    for line in sys.stdin:
        try:
            request = json.loads(line)
            os.chdir(request["cwd"])
            stdout, _, status = api.run(list(request["argv"]))
            answer = {"stdout": stdout, "status": status}
        except Exception as error:  # noqa: BLE001 - any failure is answered, never fatal
            answer = {"stdout": "", "status": -1, "error": f"{type(error).__name__}: {error}"}
        finally:
            os.chdir("/")
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
