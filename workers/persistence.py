"""How much of each accepted completion is still in the document later, and who wrote the code
(pure: time, edits and document text are arguments).

The worker already holds every document, so it measures on the server what the best products
measure in the client: after an ``accepted`` (or ``partial``) feedback, the accepted text is
followed through every later edit as a span of the document; at each checkpoint (30 s, 2, 5 and
10 minutes by default) the share of its characters still there is the longest common
subsequence of the accepted text and the span's current text, over the accepted length.

Authorship: characters inserted by an edit that puts an accepted suggestion into the document
count as written by completions; every other inserted character counts as typed.

Only lengths and counts leave this module; the texts stay in memory, like the documents.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.socket import TextEdit

#: A suggestion accepted but not yet seen in the document is dropped after this long.
PLACEMENT_TIMEOUT_MS = 10_000
#: Suggestions remembered per session (to find the text of an accepted request).
REMEMBERED = 64


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One measurement: ``surviving_chars`` of ``accepted_chars`` still there after
    ``checkpoint_s``."""

    session_id: str
    request_id: str
    language_id: str
    checkpoint_s: int
    accepted_chars: int
    surviving_chars: int
    accepted_ms: int


@dataclass(frozen=True, slots=True)
class Authorship:
    session_id: str
    language_id: str
    typed_chars: int
    completion_chars: int


@dataclass
class _Tracked:
    request_id: str
    uri: str
    language_id: str
    text: str
    start: int
    length: int
    accepted_ms: int
    placed: bool
    due_s: list[int]


@dataclass
class _Session:
    suggestions: dict[str, tuple[str, int, str, str]] = field(default_factory=dict)
    tracked: list[_Tracked] = field(default_factory=list)
    typed: dict[str, int] = field(default_factory=dict)  # by language
    from_completions: dict[str, int] = field(default_factory=dict)


class PersistenceTracker:
    def __init__(self, checkpoints_s: tuple[int, ...]) -> None:
        self.checkpoints_s = tuple(sorted(checkpoints_s))
        self._sessions: dict[str, _Session] = {}

    def suggested(self, session_id: str, request_id: str, uri: str, offset: int, text: str,
                  language_id: str) -> None:
        """What a request showed (its full streamed text), anchored where it was asked."""
        if not text:
            return
        session = self._sessions.setdefault(session_id, _Session())
        session.suggestions[request_id] = (uri, offset, text, language_id)
        while len(session.suggestions) > REMEMBERED:
            del session.suggestions[next(iter(session.suggestions))]

    def accepted(self, session_id: str, request_id: str, accepted_chars: int | None,
                 document_text: str | None, now_ms: int) -> None:
        """The user accepted (all, or ``accepted_chars`` of) a suggestion of this session."""
        session = self._sessions.get(session_id)
        if session is None or request_id not in session.suggestions:
            return
        uri, offset, text, language = session.suggestions.pop(request_id)
        if accepted_chars is not None:
            text = text[:accepted_chars]
        if not text:
            return
        tracked = _Tracked(request_id, uri, language, text, offset, len(text), now_ms, False,
                           list(self.checkpoints_s))
        # The client may have inserted the text before sending the feedback: then that edit was
        # counted as typed, and is counted again as written by the completion.
        if document_text is not None and document_text[offset:offset + len(text)] == text:
            tracked.placed = True
            moved = min(len(text), session.typed.get(language, 0))
            session.typed[language] = session.typed.get(language, 0) - moved
            session.from_completions[language] = session.from_completions.get(language, 0) + moved
        session.tracked.append(tracked)

    def edited(self, session_id: str, uri: str, language_id: str,
               edits: tuple[TextEdit, ...]) -> None:
        """Follow the tracked spans of ``uri`` through ``edits`` (applied in order)."""
        session = self._sessions.setdefault(session_id, _Session())
        for edit in edits:
            placed_by_this = False
            for tracked in session.tracked:
                if tracked.uri != uri:
                    continue
                if not tracked.placed:
                    if edit.start == tracked.start and edit.text.startswith(tracked.text):
                        tracked.placed = placed_by_this = True
                    continue
                _follow(tracked, edit)
            inserted = len(edit.text)
            tally = session.from_completions if placed_by_this else session.typed
            tally[language_id] = tally.get(language_id, 0) + inserted

    def due(self, now_ms: int, text_of: dict[tuple[str, str], str]) -> list[Checkpoint]:
        """Checkpoints reached by ``now_ms``; ``text_of`` maps (session, uri) to the document."""
        out = []
        for session_id, session in self._sessions.items():
            keep = []
            for tracked in session.tracked:
                if not tracked.placed:
                    if now_ms - tracked.accepted_ms < PLACEMENT_TIMEOUT_MS:
                        keep.append(tracked)
                    continue
                text = text_of.get((session_id, tracked.uri))
                while tracked.due_s and now_ms >= tracked.accepted_ms + tracked.due_s[0] * 1000:
                    checkpoint_s = tracked.due_s.pop(0)
                    end = tracked.start + tracked.length
                    surviving = 0 if text is None else surviving_chars(
                        tracked.text, text[tracked.start:end])
                    out.append(Checkpoint(session_id, tracked.request_id, tracked.language_id,
                                          checkpoint_s, len(tracked.text), surviving,
                                          tracked.accepted_ms))
                if tracked.due_s:
                    keep.append(tracked)
            session.tracked = keep
        return out

    def uri_of(self, session_id: str, request_id: str) -> str | None:
        """The document a remembered suggestion was made in."""
        session = self._sessions.get(session_id)
        found = session.suggestions.get(request_id) if session is not None else None
        return found[0] if found is not None else None

    def tracked_uris(self) -> set[tuple[str, str]]:
        return {(sid, t.uri) for sid, s in self._sessions.items() for t in s.tracked}

    def retain(self, alive: Callable[[str], bool]) -> None:
        """Drop sessions the worker no longer holds (idle, or their partition moved away):
        they will never end here, so their counts would stay forever."""
        self._sessions = {sid: s for sid, s in self._sessions.items() if alive(sid)}

    def forget(self, session_id: str) -> list[Authorship]:
        """The session ended: its authorship counts (checkpoints not reached are not measured)."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return []
        languages = sorted(set(session.typed) | set(session.from_completions))
        return [Authorship(session_id, language, session.typed.get(language, 0),
                           session.from_completions.get(language, 0))
                for language in languages
                if session.typed.get(language, 0) or session.from_completions.get(language, 0)]


def _follow(tracked: _Tracked, edit: TextEdit) -> None:
    """Move or resize a span for one edit ``[a, b) -> text``: shifted by an edit before it (an
    insertion right at its start included), untouched by one after it, and for one that cuts
    into it, what is left of it plus what was written inside it."""
    a, b, written = edit.start, edit.end, len(edit.text)
    start, end = tracked.start, tracked.start + tracked.length
    if b <= start:
        tracked.start += written - (b - a)
    elif a >= end:
        return
    elif a < start:  # cuts in from before: the text written goes before what is left
        tracked.start = a + written
        tracked.length = max(0, end - b)
    else:  # starts inside: what was written counts as part of the span
        tracked.length = (a - start) + written + max(0, end - b)


def surviving_chars(accepted: str, current: str) -> int:
    """Characters of ``accepted`` still present, in order, in ``current``."""
    matcher = difflib.SequenceMatcher(None, accepted, current, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())
