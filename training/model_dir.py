"""The served model's directory, and importing its pure modules (they live beside ``model.py``
because Triton's stub loads them from there)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"


def import_module(name: str) -> ModuleType:
    if str(MODEL_DIR) not in sys.path:
        sys.path.insert(0, str(MODEL_DIR))
    return importlib.import_module(name)
