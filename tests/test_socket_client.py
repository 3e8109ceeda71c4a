"""How server frames land in a client's answers: the core both socket clients share."""

from __future__ import annotations

from schemas.socket import (
    CompletionEnd,
    EditResult,
    ErrorFrame,
    SlowDown,
    TextEdit,
    TokenChunk,
)
from socket_client.answers import Answer, land


def pending() -> dict[str, Answer]:
    return {"r1": Answer("r1", sent_s=10.0)}


class TestLand:
    """Frames of a request go to its answer; the rest is left to the adapter."""

    def test_tokens_then_end(self) -> None:
        answers = pending()
        assert land(answers, TokenChunk("r1", 0, "ab"), 10.25) is answers["r1"]
        land(answers, TokenChunk("r1", 1, "c"), 10.5)
        answer = land(answers, CompletionEnd("r1", "stop", 2), 10.75)
        assert answer is not None and answer.text == "abc" and answer.first_token_s == 0.25
        assert answer.reason == "stop" and answer.done.is_set()

    def test_a_task_result_is_its_first_frame_too(self) -> None:
        answers = pending()
        edit = EditResult("r1", 0, 1, "add x", (TextEdit(0, 0, "x"),))
        land(answers, edit, 11.0)
        assert answers["r1"].results == [edit] and answers["r1"].first_token_s == 1.0

    def test_frames_of_no_pending_request_are_the_adapters(self) -> None:
        answers = pending()
        assert land(answers, TokenChunk("other", 0, "x"), 11.0) is None
        assert land(answers, ErrorFrame("rate_limited", "slow"), 11.0) is None
        assert land(answers, SlowDown(400, "overloaded"), 11.0) is None
        assert answers["r1"].chunks == []

    def test_an_error_naming_the_request_is_its_own(self) -> None:
        answers = pending()
        error = ErrorFrame("quota_exceeded", "over", request_id="r1")
        assert land(answers, error, 11.0) is answers["r1"] and answers["r1"].error == error

    def test_one_end_only(self) -> None:
        answer = pending()["r1"]
        answer.give_up("timeout")
        answer.finish(CompletionEnd("r1", "stop", 3))
        assert (answer.reason, answer.detail) == ("error", "timeout")
