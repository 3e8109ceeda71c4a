"""Triton's entry point for code_lm_trtllm: code_lm's model under TensorRT-LLM's tensors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent.parent / "code_lm" / "1" / "model.py"
_SPEC = importlib.util.spec_from_file_location("code_lm_model", _SOURCE)
assert _SPEC is not None
assert _SPEC.loader is not None
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)

TritonPythonModel = _MODULE.TritonPythonModel
