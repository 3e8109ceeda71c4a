"""The next-edit model route (``NEXT_EDIT_MODEL``): asked in Zeta's format at a pause when the
rules propose nothing, its rewrite sent as the few changes that differ, for the version it read;
an answer out of format, a failure or the deadline: no suggestion, counted. Against the test
stack's Triton (``code_lm``, a model with the vLLM backend's tensors) and a stand-in that
rewrites the region the prompt marks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from config.settings import Settings, SettingsError
from documents.document import apply_edits
from next_edits import zeta
from schemas.socket import DocChange, DocOpen, EditSuggestion, TextEdit
from schemas.topics import EditorEvent, write_record
from tests.test_worker_service import RecordingWorker, SlowModel
from workers.core import ProposeEdits
from workers.inference import InferenceError, TritonBackend

TEXT = "def area(w, h):\n    s = w * h\n    return s\n"
EDITED = TEXT.replace("area(w, h)", "area(width, h)")


class Rewriter:
    """A stand-in next-edit model: rewrites the marked region (``w * h`` -> ``width * h``) and
    ends it as Zeta does; or fails; or stalls."""

    def __init__(self, mode: str = "rewrite") -> None:
        self.mode = mode
        self.prompts: list[str] = []

    async def stream_llm(self, model: str, interface: str, prompt: str, max_tokens: int,
                         request_id: str, timeout_ms: int, stop: tuple[str, ...] = (),
                         keep_stop: bool = False) -> AsyncIterator[str]:
        self.prompts.append(prompt)
        assert stop == (zeta.REGION_END,) and keep_stop
        if self.mode == "fail":
            raise InferenceError(f"model {model} failed: boom")
        if self.mode == "stall":
            await asyncio.sleep(10)
        region = prompt.split(zeta.REGION_START + "\n")[1].split("\n" + zeta.REGION_END)[0]
        rewrite = region.replace(zeta.CURSOR, "").replace("w * h", "width * h")
        yield f"{zeta.REGION_START}\n"
        if self.mode == "cut":  # the token limit ran out at a line's end
            yield rewrite.split("\n")[0] + "\n"
            return
        yield rewrite + "\n" + zeta.REGION_END  # the stop string, kept


async def proposed(worker: RecordingWorker, body_after: DocChange) -> list[EditSuggestion]:
    """Open, edit, let the pause come, run the proposal; the suggestions sent."""
    for at, body in enumerate((DocOpen("a.py", "python", 1, TEXT), body_after)):
        event = EditorEvent("e", "s1", 0, "t", "u", "pro", None, 1000 + at, body,
                            edit_suggestions=True)
        await worker.handle_batch([(write_record(event), 0, at)])
    actions = worker._core.due(10**14)
    assert [type(a) for a in actions] == [ProposeEdits], actions
    for action in actions:
        await worker._execute(action)
    while worker._proposals:
        await asyncio.gather(*worker._proposals)
    return [f for f in worker.sent if isinstance(f, EditSuggestion)]


def edit() -> DocChange:
    at = TEXT.index("w, h")
    return DocChange("a.py", 2, (TextEdit(at, at + 1, "width"),))


def worker_with(backend: object, deadline_ms: int = 1500) -> RecordingWorker:
    settings = Settings(next_edit_rules="none", next_edit_model="vllm:zeta",
                        next_edit_deadline_ms=deadline_ms)
    worker = RecordingWorker(SlowModel(), settings=settings)
    worker.tasks.backend = backend  # type: ignore[assignment]
    return worker


async def test_the_models_rewrite_arrives_as_the_changes_that_differ() -> None:
    model = Rewriter()
    worker = worker_with(model)
    (found,) = await proposed(worker, edit())
    assert found.rule == "model" and found.version == 2 and found.confidence == 0.0
    assert apply_edits(EDITED, tuple(reversed(found.changes))) == \
        EDITED.replace("w * h", "width * h")
    assert "-def area(w, h):\n+def area(width, h):" in model.prompts[0]
    assert 'User edited "a.py":' in model.prompts[0]
    assert worker.next_edit_model_answers == {"suggested": 1}


@pytest.mark.parametrize(("mode", "outcome"), [("fail", "failed"), ("stall", "deadline"),
                                               ("cut", "unparsed")])
async def test_a_failed_late_or_cut_answer_makes_no_suggestion(mode: str, outcome: str) -> None:
    """A cut answer would otherwise read as the region's first line replacing all of it."""
    worker = worker_with(Rewriter(mode), deadline_ms=200)
    assert await proposed(worker, edit()) == []
    assert worker.next_edit_model_answers == {outcome: 1}


def test_the_route_must_name_an_llm_interface_and_a_model() -> None:
    with pytest.raises(SettingsError, match="NEXT_EDIT_MODEL=items:zeta"):
        Settings(next_edit_model="items:zeta").validate()
    with pytest.raises(SettingsError, match="NEXT_EDIT_MODEL=vllm:"):
        Settings(next_edit_model="vllm:").validate()


@pytest.mark.stack
async def test_the_route_asks_tritons_model_and_an_answer_out_of_format_is_no_suggestion(
        stack: Settings) -> None:
    """``code_lm`` is no next-edit model: whatever it answers, nothing is suggested unless it
    is in Zeta's format and changes the region; the request went through Triton and came back."""
    backend = TritonBackend(stack.triton_grpc, "code_lm")
    settings = Settings(next_edit_rules="none", next_edit_model="vllm:code_lm",
                        next_edit_max_tokens=32)
    worker = RecordingWorker(SlowModel(), settings=settings)
    worker.tasks.backend = backend
    try:
        found = await proposed(worker, edit())
    finally:
        await backend.close()
    answers = worker.next_edit_model_answers
    assert sum(answers.values()) == 1 and not answers["failed"] and not answers["deadline"], answers
    assert len(found) == answers["suggested"]
