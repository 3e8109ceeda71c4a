"""Prompts for task routes served by an instruct code LLM (Triton's vLLM or TensorRT-LLM
backends), one template per kind. Pure: the document, the range and the instruction in, the
prompt text out. The code is the selection, or the lines around the cursor."""

from __future__ import annotations

from schemas.socket import TaskKind

#: Lines around the cursor an LLM sees when nothing is selected.
CONTEXT_LINES = 40
#: Characters of code a prompt carries at most (the model's context is the real limit).
MAX_CODE_CHARS = 12_000

TEMPLATES: dict[TaskKind, str] = {
    "explain": "Explain what this {language} code does: what it defines, takes, returns and "
               "raises, what it calls, its control flow and its cost. Answer in Markdown.",
    "find_bugs": "Review this {language} code for bugs (wrong variables, swapped arguments, "
                 "wrong operators, off-by-one errors, missing returns, syntax errors). List "
                 "each with its line and why, in Markdown. Say so if there is none.",
    "fix": "Fix the bugs in this {language} code. Answer with the corrected code in one fenced "
           "block, then one line per change.",
    "refactor": "Suggest refactorings that make this {language} code simpler without changing "
                "what it does. Answer with the new code in one fenced block, then why.",
    "tests": "Write unit tests for this {language} code in the project's usual framework. "
             "Answer with the test file in one fenced block.",
    "docs": "Write the documentation comment for this {language} code in the language's "
            "convention (docstring, JSDoc, Javadoc, rustdoc, Go doc). Answer with the comment "
            "in one fenced block.",
}


def code_region(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the prompt's code lies in ``text`` (code points): the selection, or the
    ``CONTEXT_LINES`` whole lines around an empty range; at most ``MAX_CODE_CHARS``."""
    if end > start:
        return start, min(end, start + MAX_CODE_CHARS)
    lines = text.split("\n")
    line = text.count("\n", 0, start)
    first, last = max(0, line - CONTEXT_LINES // 2), line + CONTEXT_LINES // 2
    begin = sum(len(part) + 1 for part in lines[:first])
    finish = begin + len("\n".join(lines[first:last + 1]))
    return begin, min(finish, begin + MAX_CODE_CHARS)


def selected_code(text: str, start: int, end: int) -> str:
    """The selection, or the ``CONTEXT_LINES`` lines around an empty range."""
    begin, finish = code_region(text, start, end)
    return text[begin:finish]


def task_prompt(kind: TaskKind, text: str, language: str, start: int, end: int,
                instruction: str | None) -> str:
    """The whole prompt: the task's instruction, the user's, and the code."""
    ask = TEMPLATES[kind].format(language=language or "source")
    if instruction:
        ask += f"\nThe user adds: {instruction.strip()}"
    return f"{ask}\n\n```{language}\n{selected_code(text, start, end)}\n```\n"
