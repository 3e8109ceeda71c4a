"""``python -m training.languages``: writes the stop rules' language table for the model.

The served model reads ``languages.json`` beside ``model.py`` (it cannot import ``streams``
inside Triton's stub): for each canonical language id, how its blocks end and its line comment,
taken from ``documents.languages``. A test checks the file is current.
"""

from __future__ import annotations

import json

from documents.languages import LANGUAGES
from training.model_dir import MODEL_DIR

OUT = MODEL_DIR / "languages.json"


def table() -> str:
    rules = {language.id: {"blocks": language.blocks, "line_comment": language.line_comment}
             for language in LANGUAGES}
    return json.dumps(rules, indent=1, sort_keys=True) + "\n"


def main() -> int:
    OUT.write_text(table())
    print(f"{len(LANGUAGES)} languages -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
