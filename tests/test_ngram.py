"""The n-gram completion model's pure core (``model/repository/code_ngram/1/ngram.py``), and
the Triton ``model.py`` around it with a stand-in for ``triton_python_backend_utils``.

A tiny in-test corpus keeps these fast; one test trains on a small slice of the real stdlib.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_ngram" / "1"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))
ngram = importlib.import_module("ngram")

CORPUS = [
    "import os\nimport sys\n\n\ndef main(argv):\n    for arg in argv:\n        print(arg)\n    return 0\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n"
    "    def __repr__(self):\n        return f'Point({self.x}, {self.y})'\n",
    "def read(path):\n    with open(path) as f:\n        return f.read()\n\n\n"
    "if __name__ == '__main__':\n    main(sys.argv)\n",
    "def total(items):\n    result = 0\n    for item in items:\n        result += item\n    return result\n",
]

CLASSES = (
    "class P:\n"
    "    def __init__(self, x, y):\n"
    "        self.x = x\n"
    "        self.y = y\n"
    "\n"
    "\n"
    "class Q:\n"
    "    def __init__(self, x, y):\n"
    "        "
)
DOCUMENT = (
    "def compute_total(items):\n"
    "    total = 0\n"
    "    for item in items:\n"
    "        total += item.price\n"
    "    return total\n"
    "\n"
    "\n"
)


@pytest.fixture(scope="module")
def model() -> Any:
    return ngram.NgramModel.train(CORPUS, max_tokens=100_000)


def complete(model: Any, prefix: str, suffix: str = "\n", max_tokens: int = 32) -> list[str]:
    return list(ngram.generate(model, prefix, suffix, max_tokens))


def unmatched_closers(text: str) -> int:
    """Closing brackets in ``text`` with no opener before them (strings ignored: none in tests)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    bad = 0
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            if stack and stack[-1] == pairs[char]:
                stack.pop()
            else:
                bad += 1
    return bad


class TestTokenize:
    """The tokenizer is lossless and code-aware."""

    def test_code_tokens(self) -> None:
        assert ngram.tokenize("if x == 1:\n    y **= 2  # ok") == [
            "if", " ", "x", " ", "==", " ", "1", ":", "\n", "    ", "y", " ", "**=", " ", "2",
            "  ", "#", " ", "ok",
        ]
        assert ngram.tokenize("def f(a) -> int:") == ["def", " ", "f", "(", "a", ")", " ", "->", " ",
                                                     "int", ":"]
        for operator in ("!=", "<=", ">=", "+=", "//", "**", "->"):
            assert ngram.tokenize(f"a{operator}b") == ["a", operator, "b"]

    def test_newlines_and_indentation_are_separate_tokens(self) -> None:
        assert ngram.tokenize("a\n\n\tb\r\nc") == ["a", "\n", "\n", "\t", "b", "\r\n", "c"]

    def test_strings_quotes_and_numbers(self) -> None:
        assert ngram.tokenize("s = 'hi' + \"\"\"doc\"\"\" + 0x1F + 1.5e3") == [
            "s", " ", "=", " ", "'", "hi", "'", " ", "+", " ", '"""', "doc", '"""', " ", "+", " ",
            "0x1F", " ", "+", " ", "1.5e3",
        ]

    def test_lossless_examples(self) -> None:
        for text in ("", " ", "\r", "é😀\x00\x0c\u00a0", "x=[ ]\n\t\t# ünïcode\r\n", "a  \n  b"):
            assert "".join(ngram.tokenize(text)) == text
            assert "".join(ngram.units(text)) == text

    @given(st.text())
    def test_lossless_property(self, text: str) -> None:
        assert "".join(ngram.tokenize(text)) == text
        assert "".join(ngram.units(text)) == text
        assert all(ngram.tokenize(text)) and all(ngram.units(text))


class TestModel:
    """Counts, backoff, confidence and determinism."""

    def test_training_is_deterministic(self) -> None:
        first = ngram.NgramModel.train(CORPUS, max_tokens=100_000)
        second = ngram.NgramModel.train(list(CORPUS), max_tokens=100_000)
        assert first.counts == second.counts
        assert first.totals == second.totals
        assert first.token_count == second.token_count > 0
        prefix = "def read(path):\n    with open(path) as f:\n        "
        assert complete(first, prefix) == complete(second, prefix)

    def test_max_tokens_bounds_training(self) -> None:
        assert ngram.NgramModel.train(CORPUS, max_tokens=10).token_count == 10

    def test_contexts_of_one_to_three_units(self, model: Any) -> None:
        lengths = {len(context) for context in model.counts}
        assert lengths == {1, 2, 3}

    def test_predict_next_backs_off_and_is_confident_in_0_1(self, model: Any) -> None:
        token, confidence = model.predict_next(["    ", "self", "."])  # unseen 3-gram, known 2-gram
        assert token in {"x", "y"}
        assert 0.0 < confidence <= 1.0
        assert model.predict_next(["never", "seen", "zzz"]) is None

    def test_local_model_outweighs_corpus(self, model: Any) -> None:
        local = ngram.build_local("self.name = name\nself.name = name\n", "")
        token, _ = model.predict_next(["self", "."], local)
        assert token == "name"


class TestGenerate:
    """Greedy generation and its stop rules."""

    def test_copies_identifier_from_document(self, model: Any) -> None:
        tokens = complete(model, DOCUMENT + "grand = compute_", "\n")
        assert tokens[:1] == ["total"]

    def test_completes_a_pattern_already_in_the_file(self, model: Any) -> None:
        prefix = DOCUMENT + "def compute_average(items):\n    total = 0\n    for item in items:\n        "
        assert "".join(complete(model, prefix, "")).startswith("total += item.price")

    def test_single_line_stops_at_newline(self, model: Any) -> None:
        document = "print(value)\nprint(value)\nprint(value)\n"
        tokens = complete(model, document + "print(", "\n")
        assert "".join(tokens) == "value)"
        assert not any("\n" in token or "\r" in token for token in tokens)

    def test_suffix_is_not_re_emitted(self, model: Any) -> None:
        tokens = complete(model, DOCUMENT + "grand = compute_total(", ")\n")
        assert "".join(tokens) == "items"

    def test_next_line_of_suffix_is_not_re_emitted(self, model: Any) -> None:
        prefix = DOCUMENT + "def twice(items):\n    total = 0\n    for item in items:\n        "
        assert complete(model, prefix, "\n        total += item.price\n    return total\n") == []

    def test_no_unmatched_closing_brackets(self, model: Any) -> None:
        document = "f(1)\nf(1)\nf(1)\ng[2]\ng[2]\n"  # after 1 and 2 come closers
        for prefix in ("y = 1", "y = 2"):
            assert complete(model, document + prefix, "\n") == []
        for prefix in ("z = f(1", "w = 2 + (1"):
            text = "".join(complete(model, document + prefix, "\n"))
            assert text == ")"
            assert unmatched_closers(prefix + text) == 0

    def test_max_tokens_is_respected(self, model: Any) -> None:
        assert len(complete(model, CLASSES, "", max_tokens=64)) > 3
        assert len(complete(model, CLASSES, "", max_tokens=3)) == 3
        assert complete(model, CLASSES, "", max_tokens=0) == []

    def test_multi_line_block_stays_inside_the_block(self, model: Any) -> None:
        text = "".join(complete(model, CLASSES, "\n", max_tokens=64))
        assert text.startswith("self.x = x\n        self.y = y")
        assert 2 <= text.count("\n") + 1 <= ngram.MAX_LINES
        assert all(line.startswith("        ") for line in text.split("\n")[1:])

    def test_block_mode_only_after_an_opener(self, model: Any) -> None:
        prefix = "def f(x):\n    y = x\n    "
        assert "\n" not in "".join(complete(model, prefix, "\n", max_tokens=64))

    def test_repeating_loop_stops(self, model: Any) -> None:
        document = "x = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n"
        tokens = complete(model, document + "y = [0, 0,", "\n", max_tokens=100)
        assert len(tokens) < 12

    def test_nothing_confident_yields_nothing(self, model: Any) -> None:
        assert complete(model, "qqq zzz www", "\n") == []
        assert complete(model, "", "") == []

    def test_cursor_inside_a_word_yields_nothing(self, model: Any) -> None:
        assert complete(model, DOCUMENT + "grand = compute_", "total(items)\n") == []

    def test_generated_string_is_shown_only_when_closed(self, model: Any) -> None:
        document = "print('hello world')\nprint('hello world')\n"
        assert "".join(complete(model, document + "print(", "\n")) == "'hello world')"
        assert complete(model, document + "print(", "\n", max_tokens=2) == []


def test_stdlib_slice_corpus() -> None:
    texts = ngram.load_corpus(max_files=20, max_bytes=300_000)
    assert 0 < len(texts) <= 20
    assert sum(len(text.encode("utf-8")) for text in texts) <= 300_000
    assert texts == ngram.load_corpus(max_files=20, max_bytes=300_000)
    model = ngram.NgramModel.train(texts, max_tokens=200_000, min_count=2)
    assert model.token_count > 1000
    tokens = complete(model, "import os\n\n\ndef f(self):\n    return self.", "\n")
    assert all(isinstance(token, str) and token for token in tokens)


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.final = False

    def send(self, response: Any = None, flags: int = 0) -> None:
        assert not self.final, "sent after the final flag"
        if response is not None:
            self.sent.append(response)
        self.final = bool(flags & 1)


class FakeRequest:
    def __init__(self, cancel_after: int | None = None, **inputs: npt.NDArray[Any]) -> None:
        self.inputs = inputs
        self.sender = FakeSender()
        self.cancel_after = cancel_after
        self.checks = 0

    def get_response_sender(self) -> FakeSender:
        return self.sender

    def is_cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after


def fake_pb_utils() -> types.ModuleType:
    """Just enough of ``triton_python_backend_utils`` (which exists only inside tritonserver)."""
    pb = types.ModuleType("triton_python_backend_utils")

    class Tensor:
        def __init__(self, name: str, array: npt.NDArray[Any]) -> None:
            self.name, self.array = name, array

        def as_numpy(self) -> npt.NDArray[Any]:
            return self.array

    class InferenceResponse:
        def __init__(self, output_tensors: list[Tensor] | None = None, error: Any = None) -> None:
            self.output_tensors, self.error = output_tensors or [], error

    class TritonError:
        def __init__(self, message: str) -> None:
            self.text = message

    class Logger:
        lines: list[str] = []  # noqa: RUF012 - a test recorder

        @classmethod
        def log(cls, message: str) -> None:
            cls.lines.append(message)

        log_info = log_warn = log_error = log_verbose = log

    def get_input_tensor_by_name(request: FakeRequest, name: str) -> Tensor | None:
        array = request.inputs.get(name)
        return None if array is None else Tensor(name, array)

    pb.Tensor = Tensor  # type: ignore[attr-defined]
    pb.InferenceResponse = InferenceResponse  # type: ignore[attr-defined]
    pb.TritonError = TritonError  # type: ignore[attr-defined]
    pb.Logger = Logger  # type: ignore[attr-defined]
    pb.get_input_tensor_by_name = get_input_tensor_by_name  # type: ignore[attr-defined]
    pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1  # type: ignore[attr-defined]
    return pb


class TestTritonModel:
    """``model.py`` streams one response per token, then the final flag; bad input is an error."""

    @pytest.fixture
    def served(self, model: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
        pb = fake_pb_utils()
        monkeypatch.setitem(sys.modules, "triton_python_backend_utils", pb)
        monkeypatch.setattr(ngram, "load_corpus", lambda max_files, max_bytes: CORPUS)
        spec = importlib.util.spec_from_file_location("code_ngram_model", MODEL_DIR / "model.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        instance = module.TritonPythonModel()
        instance.initialize({"model_config": json.dumps({"parameters": {}})})
        return instance, pb

    @staticmethod
    def utf8(text: str) -> npt.NDArray[np.uint8]:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def request(self, prefix: str, suffix: str = "\n", max_tokens: int = 16, **extra: Any) -> FakeRequest:
        inputs = {"PREFIX": self.utf8(prefix), "SUFFIX": self.utf8(suffix),
                  "MAX_TOKENS": np.array([max_tokens], dtype=np.int32)}
        return FakeRequest(**{**inputs, **extra})

    def test_streams_tokens_then_final(self, served: tuple[Any, Any]) -> None:
        instance, pb = served
        request = self.request(DOCUMENT + "grand = compute_", LANGUAGE=self.utf8("python"))
        assert instance.execute([request]) is None
        texts = [r.output_tensors[0].array.tobytes().decode() for r in request.sender.sent]
        assert texts[:1] == ["total"]
        assert request.sender.final
        assert not any("compute_" in line for line in pb.Logger.lines)  # sizes only, never code

    def test_bad_inputs_get_an_error_then_final(self, served: tuple[Any, Any]) -> None:
        instance, _ = served
        bad = [
            FakeRequest(PREFIX=np.array([0xFF, 0xFE], dtype=np.uint8), SUFFIX=self.utf8(""),
                        MAX_TOKENS=np.array([8], dtype=np.int32)),
            self.request("x = ", max_tokens=0),
            self.request("x = ", max_tokens=513),
            self.request("x = ", LANGUAGE=np.array([0xC3], dtype=np.uint8)),
        ]
        good = self.request(DOCUMENT + "grand = compute_")
        instance.execute([*bad, good])
        messages = []
        for request in bad:
            assert request.sender.final
            assert len(request.sender.sent) == 1 and request.sender.sent[0].error is not None
            messages.append(request.sender.sent[0].error.text)
        assert "PREFIX is not valid UTF-8" in messages[0]
        assert "MAX_TOKENS must be between 1 and 512, got 0" in messages[1]
        assert "got 513" in messages[2]
        assert "LANGUAGE is not valid UTF-8" in messages[3]
        assert good.sender.final and good.sender.sent and good.sender.sent[0].error is None

    def test_cancellation_stops_the_stream(self, served: tuple[Any, Any]) -> None:
        instance, _ = served
        request = FakeRequest(cancel_after=2, PREFIX=self.utf8(CLASSES), SUFFIX=self.utf8(""),
                              MAX_TOKENS=np.array([64], dtype=np.int32))
        instance.execute([request])
        assert len(request.sender.sent) == 2
        assert request.sender.final
