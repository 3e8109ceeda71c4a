"""Random and mutated JSON-RPC on the language server's stdio (``tests.ls_fuzzing``): every
request whose frame was intact is answered, the server stays in step after every batch, exits 0
on shutdown and logs no traceback and no document text. ``python -m tests.ls_fuzzing
--messages 100000`` runs the long version."""

from __future__ import annotations

import pytest

from config.settings import Settings
from ide import envelope
from tests.conftest import KEYRING
from tests.ls_fuzzing import expected_id, run
from tests.lsp_wire import refused_url


def test_the_accounting_expects_what_the_spec_answers() -> None:
    assert expected_id({"jsonrpc": "2.0", "id": 3, "method": "m"}) == (True, 3)
    assert expected_id({"jsonrpc": "2.0", "method": "m"}) == (False, None)
    assert expected_id({"jsonrpc": "1.0", "id": 4, "method": "m"}) == (True, 4)
    assert expected_id({"jsonrpc": "2.0", "id": 1.5, "method": "m"}) == (True, None)
    assert expected_id([1]) == (True, None)
    assert envelope.classify({"jsonrpc": "2.0", "id": 1, "result": 2}).kind == "response"  # type: ignore[union-attr]


async def test_5000_fuzzed_messages_offline() -> None:
    report = await run(5000, seed=20261206, url=refused_url())
    assert report.intact_requests > 2000 and report.probes >= 20
    assert report.unanswered == [] and report.problems == []
    assert report.exit_code == 0


@pytest.mark.stack
async def test_2000_fuzzed_messages_against_the_stack(stack: Settings) -> None:
    """With a live edge the probes are real completions (a result, never an error)."""
    report = await run(2000, seed=7, url=stack.edge_url(), api_key=KEYRING.take("pro").api_key,
                       live=True)
    assert report.unanswered == [] and report.problems == []
    assert report.probes_with_items >= report.probes // 2, report
    assert report.exit_code == 0
