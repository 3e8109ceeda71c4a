"""A brought GGUF model's own tokenizer (llama.cpp's), shaped like ``bpe.Tokenizer`` for the
engine, and the model's fill-in-the-middle markers.

code_fim keeps its own tokenizer (``bpe.py``); any other GGUF model is tokenized by the vocabulary
and pre-tokenizer its file carries, so its completions see the ids it was trained on. Special
tokens are never produced from text (a prefix holding ``<fim_middle>`` stays text); the FIM
markers come from the file's metadata (llama.cpp reads or recognizes them for StarCoder, Qwen,
CodeLlama, DeepSeek-Coder, Codestral and more), or from a template in the form of
``workers/fim_templates.py`` (``<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>``).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from bpe import EOT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

#: Marker tokens a FIM template may take (the prompt window pays for them).
MAX_MARKERS = 32


class TemplateError(ValueError):
    """The model has no FIM markers to use; the message says which fix applies."""


@dataclass(frozen=True, slots=True)
class FimMarkers:
    """Ids around a prefix-suffix-middle prompt: ``head`` prefix ``middle`` suffix ``tail``."""

    head: tuple[int, ...]
    middle: tuple[int, ...]
    tail: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.head) + len(self.middle) + len(self.tail)


class GgufTokenizer:
    """Encodes and decodes with the model file's vocabulary (see the module)."""

    def __init__(self, llama: Any, model: Any) -> None:
        self._llama = llama
        self._vocab = llama.llama_model_get_vocab(model)
        size = int(llama.llama_vocab_n_tokens(self._vocab))
        control = [bool(llama.llama_vocab_get_attr(self._vocab, i) & llama.LLAMA_TOKEN_ATTR_CONTROL)
                   for i in range(size)]
        self._token_bytes = [b"" if control[i] else self._piece(i, special=False) for i in range(size)]
        self.byte_lengths = [len(piece) for piece in self._token_bytes]
        end = int(llama.llama_vocab_eot(self._vocab))
        if end == llama.LLAMA_TOKEN_NULL:
            end = int(llama.llama_vocab_eos(self._vocab))
        if end == llama.LLAMA_TOKEN_NULL:
            raise TemplateError("the model has neither an end-of-text nor an end-of-sequence token")
        #: Every control token (the engine bans those that do not end generation), and every
        #: token that ends it (end of text, of turn, a FIM pad or file separator: the engine
        #: counts them all as its end, ``ends[0]``).
        self.controls = [i for i in range(size) if control[i]]
        self.ends = [end, *(i for i in range(size) if i != end and llama.llama_vocab_is_eog(self._vocab, i))]
        #: The end as ``EOT`` and the FIM markers under code_fim's names where the file names them.
        self.special = {EOT: end}
        for ours, theirs in ((FIM_PREFIX, llama.llama_vocab_fim_pre),
                             (FIM_SUFFIX, llama.llama_vocab_fim_suf),
                             (FIM_MIDDLE, llama.llama_vocab_fim_mid)):
            token = int(theirs(self._vocab))
            if token != llama.LLAMA_TOKEN_NULL:
                self.special[ours] = token
        self.size = size
        #: The file asks for a begin-of-sequence token before every prompt (CodeLlama's,
        #: DeepSeek-Coder's, Codestral's do): the FIM markers start with it.
        bos = int(llama.llama_vocab_bos(self._vocab))
        self.bos = bos if llama.llama_vocab_get_add_bos(self._vocab) and bos != llama.LLAMA_TOKEN_NULL \
            else None

    def _piece(self, token: int, special: bool) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        length = self._llama.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, special)
        if length < 0:
            buffer = ctypes.create_string_buffer(-length)
            length = self._llama.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, special)
        return buffer.raw[:max(length, 0)]

    def encode(self, text: str, special: bool = False) -> list[int]:
        """The ids of ``text``; special-token strings in it are text unless ``special``."""
        data = text.encode("utf-8")
        if not data:
            return []
        capacity = len(data) + 8
        tokens = (ctypes.c_int32 * capacity)()
        count = self._llama.llama_tokenize(self._vocab, data, len(data), tokens, capacity, False, special)
        if count < 0:
            capacity = -count
            tokens = (ctypes.c_int32 * capacity)()
            count = self._llama.llama_tokenize(self._vocab, data, len(data), tokens, capacity, False,
                                               special)
        return list(tokens[:count])

    def token_bytes(self, token: int) -> bytes:
        """The UTF-8 bytes one token stands for (empty for control tokens)."""
        return self._token_bytes[token]

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._token_bytes[i] for i in ids).decode("utf-8", errors="replace")

    def fim_markers(self, template: str | None = None) -> FimMarkers:
        """The markers of ``template`` (``{prefix}`` before ``{suffix}``), else the file's own."""
        if template:
            if "{prefix}" not in template or "{suffix}" not in template or \
                    template.index("{prefix}") > template.index("{suffix}"):
                raise TemplateError(f"FIM template {template!r} must hold {{prefix}} then {{suffix}}")
            head, rest = template.split("{prefix}", 1)
            middle, tail = rest.split("{suffix}", 1)
            markers = FimMarkers(*(tuple(self.encode(part, special=True)) for part in (head, middle, tail)))
            if markers.count > MAX_MARKERS:
                raise TemplateError(f"FIM template {template!r} is {markers.count} tokens of markers "
                                    f"(at most {MAX_MARKERS})")
            return self._with_bos(markers)
        missing = [name for name in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE) if name not in self.special]
        if missing:
            raise TemplateError(
                "the model's file names no fill-in-the-middle tokens (" + ", ".join(missing) +
                "): configure FIM_TEMPLATE with its prompt form (workers/fim_templates.py lists "
                "StarCoder's, Qwen's, CodeLlama's, DeepSeek-Coder's), or bring a FIM model")
        return self._with_bos(FimMarkers((self.special[FIM_PREFIX],), (self.special[FIM_SUFFIX],),
                                         (self.special[FIM_MIDDLE],)))

    def _with_bos(self, markers: FimMarkers) -> FimMarkers:
        if self.bos is None or markers.head[:1] == (self.bos,):
            return markers
        return FimMarkers((self.bos, *markers.head), markers.middle, markers.tail)
