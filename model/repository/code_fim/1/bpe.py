"""The model's byte-level BPE tokenizer: encode and decode with the vocabulary trained here.

Pure standard library, so it runs in Triton's python backend stub without the ``tokenizers``
package (which trains the vocabulary: ``python -m training.tokenizer``). Text is split into
pieces by a code-aware pattern (a newline with the indentation after it, identifiers with one
leading space, digit runs, punctuation runs, blanks), each piece's UTF-8 bytes are mapped to
printable characters (GPT-2's byte-to-unicode table), then merged by rank. The training command
checks that this encoder gives exactly the ``tokenizers`` library's ids on held-out files.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

#: The pre-tokenizer, in syntax both Python's ``re`` and Oniguruma (``tokenizers``) read alike.
PATTERN = (
    r"\n[ \t]*"  # a newline and the next line's indentation
    r"| ?[A-Za-z_][A-Za-z0-9_]*"  # an ASCII identifier or keyword, with one leading space
    r"|[0-9]{1,3}"  # digits in groups of at most three
    r"| ?[^\sA-Za-z0-9_]+"  # a run of punctuation, with one leading space
    r"|[ \t]+"  # other blanks
    r"|\s"  # anything else, one character at a time
)
_SPLIT = re.compile(PATTERN)
#: Texts up to their last newline whose ids are kept: a request encodes about eight (prefix,
#: suffix, context and the copy model's windows, scope lines), so this covers several documents.
HEAD_CACHE_ENTRIES = 64

EOT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
LANGUAGE = "<|language|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE, LANGUAGE, PAD)


def byte_alphabet() -> dict[int, str]:
    """Each byte's printable stand-in: printable Latin-1 maps to itself, the rest above 255."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_BYTE_TO_CHAR = byte_alphabet()
_CHAR_TO_BYTE = {c: b for b, c in _BYTE_TO_CHAR.items()}


class Tokenizing(Protocol):
    """What the engine needs of a tokenizer: this module's, or a GGUF model's own
    (``gguf_tokenizer.py``)."""

    special: dict[str, int]
    byte_lengths: list[int]
    #: Control tokens (never text) and the tokens that end a completion (``ends[0]`` first).
    controls: list[int]
    ends: list[int]

    def encode(self, text: str) -> list[int]: ...

    def token_bytes(self, token: int) -> bytes: ...

    def decode(self, ids: list[int]) -> str: ...


class Tokenizer:
    """Encodes text to token ids and back; ids are stable for one vocabulary file."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
        self.vocab = vocab
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.pieces = {i: s for s, i in vocab.items()}
        self.special = {s: vocab[s] for s in SPECIAL_TOKENS}
        self.controls = sorted(self.special.values())
        self.ends = [self.special[EOT]]
        self._token_bytes = {i: self._bytes_of(s) for i, s in self.pieces.items()}
        #: Each id's length in bytes (a list: summing it over a prompt is a hot path).
        self.byte_lengths = [len(self._token_bytes.get(i, b"")) for i in range(max(self.pieces) + 1)]
        self._encode_piece = lru_cache(maxsize=65536)(self._encode_piece_uncached)
        self._heads: OrderedDict[str, list[int]] = OrderedDict()

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        """From a ``tokenizers`` JSON file (its ``model.vocab`` and ``model.merges``)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        model = data["model"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
                  for m in model["merges"]]
        vocab = dict(model["vocab"])
        for added in data.get("added_tokens", []):
            vocab[added["content"]] = added["id"]
        return cls(vocab, [(a, b) for a, b in merges])

    @property
    def size(self) -> int:
        return max(self.pieces) + 1

    def _bytes_of(self, piece: str) -> bytes:
        if piece in SPECIAL_TOKENS:
            return b""
        return bytes(_CHAR_TO_BYTE[c] for c in piece)

    def _encode_piece_uncached(self, piece: str) -> tuple[int, ...]:
        parts = [_BYTE_TO_CHAR[b] for b in piece.encode("utf-8")]
        ranks = self.ranks
        while len(parts) > 1:
            best = None
            best_rank = len(ranks)
            for i in range(len(parts) - 1):
                rank = ranks.get((parts[i], parts[i + 1]), best_rank)
                if rank < best_rank:
                    best, best_rank = i, rank
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        return tuple(self.vocab[p] for p in parts)

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` (special-token strings inside it are ordinary text).

        Every newline starts a piece, so the text before the last newline encodes alone; it is
        kept for the next calls (typing changes one line: the lines above it come from here)."""
        cut = text.rfind("\n")
        if cut <= 0:
            return self._encode_pieces(text)
        head = text[:cut]
        ids = self._heads.get(head)
        if ids is None:
            ids = self._encode_pieces(head)
            if len(self._heads) >= HEAD_CACHE_ENTRIES:
                self._heads.popitem(last=False)
            self._heads[head] = ids
        else:
            self._heads.move_to_end(head)
        return [*ids, *self._encode_pieces(text[cut:])]

    def _encode_pieces(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _SPLIT.findall(text):
            ids.extend(self._encode_piece(piece))
        return ids

    def token_bytes(self, token: int) -> bytes:
        """The UTF-8 bytes one token stands for (empty for special tokens)."""
        return self._token_bytes[token]

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._token_bytes[i] for i in ids).decode("utf-8", errors="replace")
