"""The token layout the model was trained on, built from prefix, suffix and language.

Pure. Suffix first, then prefix (see ``model/training/fim.py``): while a developer types, the
prompt only changes at its end, so cached states for the rest are reused. The prefix is cut from
its start in steps of ``PREFIX_STEP`` tokens, so its first token stays put while the developer
types up to that many more tokens.
"""

from __future__ import annotations

from bpe import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, LANGUAGE, Tokenizer

SUFFIX_TOKENS = 64
PREFIX_TOKENS = 192
MIDDLE_TOKENS = 64
LANGUAGE_TOKENS = 6
CONTEXT = LANGUAGE_TOKENS + SUFFIX_TOKENS + PREFIX_TOKENS + MIDDLE_TOKENS + 4
PREFIX_STEP = 32
PREFIX_CHARS = 1200
PREFIX_CHARS_STEP = 256
SUFFIX_CHARS = 400


def language_ids(tokenizer: Tokenizer, language: str) -> list[int]:
    return [tokenizer.special[LANGUAGE], *tokenizer.encode(language)[:LANGUAGE_TOKENS - 1]]


def trim_prefix(ids: list[int], budget: int = PREFIX_TOKENS, step: int = PREFIX_STEP) -> list[int]:
    """The last tokens of the prefix within ``budget``, dropped from the front ``step`` at a time."""
    excess = len(ids) - budget
    if excess <= 0:
        return ids
    drop = -(-excess // step) * step
    return ids[drop:]


def prefix_window(prefix: str, chars: int = PREFIX_CHARS, step: int = PREFIX_CHARS_STEP) -> str:
    """The end of ``prefix`` that gets tokenized: at most ``chars`` plus ``step`` characters, cut
    at a point that moves only every ``step`` characters typed, then at the next line start."""
    excess = len(prefix) - chars
    if excess <= 0:
        return prefix
    cut = -(-excess // step) * step
    newline = prefix.find("\n", cut)
    return prefix[newline + 1:] if newline != -1 else prefix[cut:]


def prompt_ids(tokenizer: Tokenizer, prefix: str, suffix: str, language: str,
               prefix_budget: int = PREFIX_TOKENS, step: int = PREFIX_STEP) -> list[int]:
    """``<|language|> lang <|fim_suffix|> suffix <|fim_prefix|> prefix <|fim_middle|>``."""
    suffix_ids = tokenizer.encode(suffix[:SUFFIX_CHARS])[:SUFFIX_TOKENS]
    prefix_ids = trim_prefix(tokenizer.encode(prefix_window(prefix)), prefix_budget, step)
    special = tokenizer.special
    return [*language_ids(tokenizer, language), special[FIM_SUFFIX], *suffix_ids,
            special[FIM_PREFIX], *prefix_ids, special[FIM_MIDDLE]]
