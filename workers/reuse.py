"""Reuse instead of recompute: the pure rules behind the generation cache, shared generations and
typed-as-suggested.

- A generation is identified by a hash of everything that determines its output (the model's
  identity: name, revision of its weights and configuration, decoding settings; the prompt,
  language and token budget). Identical requests share one generation; finished ones are cached
  in Redis under the same hash, so a new model or threshold never serves an old answer. The
  hash keeps code out of keys and logs.
- Typed-as-suggested: when the user types the first characters of the suggestion being shown or
  streamed, the rest of that suggestion is still the answer; no new inference is needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from workers.prompt import Prompt


def model_identity(model: str, revision: str, threshold: float | None) -> str:
    """What about the model decides its answers: its name, the revision of what it serves, and
    the confidence threshold it is asked for (``None``: its own default, part of the revision)."""
    return f"{model}@{revision or 'unknown'}/threshold={'default' if threshold is None else threshold!r}"


def generation_key(tenant_id: str, model: str, prompt: Prompt, max_tokens: int) -> str:
    """A stable hash of what determines a generation (hex, safe for keys and logs).

    ``model`` is the :func:`model_identity`. The tenant is part of it: tenants never share
    generations, so a cache hit (and its speed) can never tell one tenant that another typed the
    same code.
    """
    digest = hashlib.sha256()
    for part in (tenant_id, model, prompt.language_id, str(max_tokens), prompt.prefix,
                 prompt.suffix, prompt.context):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The last suggestion a session was given: where it was anchored and its generation."""

    uri: str
    anchor_offset: int
    key: str


def typed_into(suggestion: Suggestion, uri: str, offset: int, prefix: str) -> str | None:
    """What the user typed since ``suggestion`` was anchored, if the cursor only moved forward in
    the same document by typing (``prefix`` is the text before the cursor); else ``None``."""
    if uri != suggestion.uri or offset <= suggestion.anchor_offset:
        return None
    typed_len = offset - suggestion.anchor_offset
    if typed_len > len(prefix):
        return None
    return prefix[len(prefix) - typed_len:]


def continues(generated: str, typed: str, finished: bool) -> bool:
    """Whether text ``typed`` follows the suggestion ``generated`` so far and leaves some of it:
    the typed characters must match, and the suggestion must go on (or still be streaming)."""
    if len(typed) < len(generated):
        return generated.startswith(typed)
    return not finished and generated == typed


def chunks_after(chunks: list[str], skip_chars: int) -> list[str]:
    """``chunks`` with their first ``skip_chars`` characters removed (a chunk may be split)."""
    out: list[str] = []
    for chunk in chunks:
        if skip_chars >= len(chunk):
            skip_chars -= len(chunk)
            continue
        out.append(chunk[skip_chars:])
        skip_chars = 0
    return out
