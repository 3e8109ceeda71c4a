"""The model's tokens as text: which end a line, which agree with a part-typed word, what token
healing generates again, and the network's distribution over them (special tokens other than the
end banned)."""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any

import numpy as np
from bpe import Tokenizing as Tokenizer
from numpy.typing import NDArray

#: The tokenizer glues one space to the word or punctuation after it (`` ex`` in
#: ``inline extract``) unless another blank comes before it: an identifier being typed, with
#: that space, or a space just typed after anything but a blank, is a token the cursor cuts
#: through.
_PARTIAL_WORD = re.compile(r"(?:(?<!\s) )?[A-Za-z_][A-Za-z0-9_]*\Z|(?<=\S) \Z")
#: Longer words are left in the prompt (an identifier this long is rarely being typed fresh).
MAX_PARTIAL = 32
#: Characters before the cursor tokenized to find the punctuation token it may cut.
PUNCTUATION_TAIL = 16


def partial_word(prefix: str) -> str:
    """The token the cursor is in the middle (or at the end) of, if any: an identifier with the
    space before it, or a space after a word; it is taken out of the prompt and generated again."""
    found = _PARTIAL_WORD.search(prefix[-MAX_PARTIAL - 2:])
    word = found.group() if found else ""
    return word if len(word.lstrip(" ")) <= MAX_PARTIAL else ""


#: Distinct part-typed words whose agreeing tokens are remembered (then the memo starts over).
CONSISTENT_CACHE_ENTRIES = 4096


class Vocabulary:
    """Lookups over the token texts, built once per model."""

    def __init__(self, tokenizer: Tokenizer, size: int) -> None:
        self._tokenizer = tokenizer
        #: The end of a completion; a model may have several tokens that end one (end of text,
        #: of turn, a FIM pad): their probability counts as the end's.
        self.eot = tokenizer.ends[0]
        self.other_ends = np.array(tokenizer.ends[1:], dtype=np.int64)
        controls = set(tokenizer.controls) | set(tokenizer.special.values())
        self.banned = np.array(sorted(controls - set(tokenizer.ends)), dtype=np.int64)
        self.texts = [tokenizer.token_bytes(i).decode("utf-8", errors="replace") if i not in
                      controls else "" for i in range(size)]
        #: Tokens that end a line (any with a newline) and the end of text.
        self.line_ends = np.array([i for i, text in enumerate(self.texts) if "\n" in text]
                                  + [self.eot])
        self._consistent_cache: dict[str, NDArray[Any]] = {}
        ordered = sorted((text, i) for i, text in enumerate(self.texts) if text)
        self._sorted_texts = ([t for t, _ in ordered], [i for _, i in ordered])
        self._ids_of_text: dict[str, list[int]] = {}
        for text, i in ordered:
            self._ids_of_text.setdefault(text, []).append(i)

    def partial_token(self, prefix: str) -> str:
        """What is generated again before the completion (token healing): the word being typed
        (:func:`partial_word`), else the punctuation token that ends the prefix when a longer
        token starts with it (``/`` of ``//``, ``(`` of ``()``, `` =`` of `` ==``)."""
        word = partial_word(prefix)
        if word or not prefix or prefix[-1].isspace():
            return word
        ids = self._tokenizer.encode(prefix[-PUNCTUATION_TAIL:])
        last = self.texts[ids[-1]] if ids else ""
        if not last or not prefix.endswith(last) or any(c.isalnum() or c in "_\n" for c in last):
            return ""
        low, high = self.starting_with(last)
        return last if high - low > 1 else ""

    def network_distribution(self, logits: NDArray[Any]) -> NDArray[Any]:
        """The network's next-token probabilities (control tokens other than the ends banned,
        every end's probability the end's)."""
        scores = logits.astype(np.float64)
        scores[self.banned] = -np.inf
        probabilities: NDArray[Any] = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        if self.other_ends.size:
            probabilities[self.eot] += probabilities[self.other_ends].sum()
            probabilities[self.other_ends] = 0.0
        return probabilities

    def consistent(self, probabilities: NDArray[Any], unmatched: str,
                   renormalize: bool = True) -> NDArray[Any]:
        """``probabilities`` over the tokens that agree with the part-typed word still to match
        (a start of it, or it and more), renormalized unless ``renormalize`` is false."""
        allowed = self._consistent_cache.get(unmatched)
        if allowed is None:
            allowed = self._agreeing(unmatched)
            if len(self._consistent_cache) > CONSISTENT_CACHE_ENTRIES:
                self._consistent_cache.clear()
            self._consistent_cache[unmatched] = allowed
        out = np.zeros_like(probabilities)
        out[allowed] = probabilities[allowed]
        total = out.sum()
        if total > 0:
            return out / total if renormalize else out
        out[allowed] = 1.0 / len(allowed)  # never leave the typed word, even if all underflow
        return out

    def _agreeing(self, unmatched: str) -> NDArray[Any]:
        """Tokens whose text starts with ``unmatched`` (a run of the sorted texts) or is a
        start of it (one lookup per length)."""
        low, high = self.starting_with(unmatched)
        found = list(self._sorted_texts[1][low:high])
        for end in range(1, len(unmatched)):
            found += self._ids_of_text.get(unmatched[:end], [])
        return np.array(sorted(found), dtype=np.int64)

    def starting_with(self, text: str) -> tuple[int, int]:
        """The run of the sorted token texts that start with ``text`` (itself included)."""
        texts = self._sorted_texts[0]
        low = bisect_left(texts, text)
        return low, bisect_left(texts, text + "\U0010ffff", low)
