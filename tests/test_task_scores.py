"""The task evaluation's measures (pure): BLEU-4, ROUGE-L and bug injection."""

from __future__ import annotations

import random

import pytest

from evaluation.task_scores import BUG_KINDS, bleu4, inject, rouge_l

FUNCTION = '''def total(values, limit):
    result = 0
    count = 0
    for index in range(limit):
        if result < limit:
            result = result + values[index]
        count = max(result, limit)
    return result
'''


def test_bleu_and_rouge_bounds_and_order() -> None:
    reference = "Return the sum of the values."
    assert bleu4(reference, reference) == pytest.approx(1.0)
    assert rouge_l(reference, reference) == pytest.approx(1.0)
    close, far = "Return the sum of values.", "Open the file."
    assert bleu4(close, reference) > bleu4(far, reference) >= 0.0
    assert rouge_l(close, reference) > rouge_l(far, reference)
    assert bleu4("", reference) == 0.0 and rouge_l("nothing shared", reference) == 0.0


@pytest.mark.parametrize("kind", BUG_KINDS)
def test_each_kind_changes_one_line_of_the_body(kind: str) -> None:
    bug = inject(kind, FUNCTION, 1, 7, random.Random(3))
    assert bug is not None and bug.kind == kind
    before, after = FUNCTION.split("\n"), bug.text.split("\n")
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [bug.line] and 1 <= bug.line <= 7


def test_no_place_for_a_bug_is_none() -> None:
    assert inject("off_by_one", "def f():\n    pass\n", 1, 1, random.Random(0)) is None
