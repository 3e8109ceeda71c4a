"""``code_fim``'s ``model.py`` with a stand-in for ``triton_python_backend_utils``: every request
gets exactly one final flag, also when its client fails or the model unloads, and no slot leaks."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_ngram import FakeRequest, FakeSender, fake_pb_utils

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"
SOURCE = "def read_lines(path):\n    with open(path) as handle:\n        return handle.read()\n\n\n"


class BrokenSender(FakeSender):
    """A client that went away: every send fails."""

    def send(self, response: Any = None, flags: int = 0) -> None:
        raise RuntimeError("client gone")


def model_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_pb_utils())
    if str(MODEL_DIR) not in sys.path:
        sys.path.insert(0, str(MODEL_DIR))
    spec = importlib.util.spec_from_file_location("code_fim_model", MODEL_DIR / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Any:
    instance = model_module(monkeypatch).TritonPythonModel()
    instance.initialize({"model_config": json.dumps({"parameters": {}})})
    yield instance
    instance.finalize()


@pytest.mark.parametrize(("name", "value"), [("BEAM_WIDTH", "9"), ("BEAM_WIDTH", "0"),
                                             ("BEAM_WIDTH", "wide"), ("PROMPT_WINDOW", "1k")])
def test_a_bad_config_parameter_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, name: str,
                                                   value: str) -> None:
    instance = model_module(monkeypatch).TritonPythonModel()
    parameters = {name: {"string_value": value}}
    with pytest.raises(ValueError, match=f"config parameter {name} must be"):
        instance.initialize({"model_config": json.dumps({"parameters": parameters})})


def test_the_beam_width_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    instance = model_module(monkeypatch).TritonPythonModel()
    instance.initialize({"model_config": json.dumps({"parameters": {"BEAM_WIDTH": {"string_value": "1"}}})})
    try:
        assert instance.engine.beam_width == 1
    finally:
        instance.finalize()


def request(prefix: str, threshold: float = 0.0, max_tokens: int = 16) -> FakeRequest:
    def utf8(text: str) -> np.ndarray:
        return np.frombuffer(text.encode(), dtype=np.uint8)

    return FakeRequest(PREFIX=utf8(prefix), SUFFIX=utf8("\n"), LANGUAGE=utf8("python"),
                       MAX_TOKENS=np.array([max_tokens], dtype=np.int32),
                       THRESHOLD=np.array([threshold], dtype=np.float32))


def wait_final(requests: list[FakeRequest], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(r.sender.final for r in requests):
        assert time.monotonic() < deadline, "a request never got its final flag"
        time.sleep(0.01)


def test_every_request_gets_one_final_flag_and_slots_come_back(served: Any) -> None:
    requests = [request(SOURCE + "x = read_lines(" + "a" * n) for n in range(12)]  # more than 8 slots
    served.execute(requests)
    wait_final(requests)
    assert not any(getattr(x, "error", None) for r in requests for x in r.sender.sent)
    assert sum(bool(r.sender.sent) for r in requests) >= len(requests) // 2  # threshold 0: most answer
    deadline = time.monotonic() + 5
    while len(served.engine.batch.free) < len(served.engine.batch.caches):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_client_that_fails_does_not_fail_the_others(served: Any) -> None:
    broken = request(SOURCE + "def count(")
    broken.sender = BrokenSender()
    others = [request(SOURCE + "y = read_lines(" + "b" * n) for n in range(4)]
    served.execute([broken, *others])
    wait_final(others)
    assert not any(getattr(x, "error", None) for r in others for x in r.sender.sent)
    more = [request(SOURCE + "z = "), request(SOURCE + "w = ")]
    served.execute(more)
    wait_final(more)
    deadline = time.monotonic() + 5
    while len(served.engine.batch.free) < len(served.engine.batch.caches):
        assert time.monotonic() < deadline, "a slot leaked"
        time.sleep(0.01)


def test_requests_still_queued_at_unload_get_an_error_and_final(served: Any) -> None:
    served.running = False
    served.thread.join(timeout=5)
    late = request(SOURCE + "q = ")
    served.incoming.put(type("Job", (), {"sender": late.sender})())
    served.thread = type("Done", (), {"join": lambda self, timeout=None: None})()
    served._loop()  # what the thread does when it sees running is False
    assert late.sender.final and late.sender.sent[0].error.text == "code_fim is unloading"
