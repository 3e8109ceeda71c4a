"""The propagation engine: the rules, each with its precision measured on real edit histories
(``python -m evaluation.next_edits``), run on a document's text before and after a burst of
typing. A rule under :data:`MIN_PRECISION` is off unless asked for."""

from __future__ import annotations

from dataclasses import dataclass

from next_edits.region import changed_region, replaced_identifier
from next_edits.rename import RULE as RENAME
from next_edits.rename import propagate_rename
from next_edits.repeat import RULE as REPEAT
from next_edits.repeat import propagate_repeat
from next_edits.signature import RULE as SIGNATURE
from next_edits.signature import propagate_signature
from schemas.socket import TextEdit

#: A rule whose measured precision is under this is off by default.
MIN_PRECISION = 0.8
#: Each rule's precision on replayed real histories it was not tuned on (docs/NEXT_EDITS.md: the
#: runs, the samples). Rename: aligned with the commit on the held-out projects, 27 of 34 (15 of
#: 34 by the stricter line diff). Signature: every change moved the file toward the commit's, 36
#: of 40 on fifteen projects' parameter removals and reorderings. Repeat: the same, 78 of 201 on
#: their arguments added to calls.
PRECISION: dict[str, float] = {RENAME: 0.79, SIGNATURE: 0.90, REPEAT: 0.39}
#: The longest document the engine reads (tree-sitter parses it on every pause).
MAX_CHARS = 200_000
#: A suggestion's limits in the protocol (schemas.socket.EditSuggestion): more changes are not
#: suggested, a longer label is cut.
MAX_CHANGES = 1000
MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Edits that follow from the one just made, on the later text (sorted, not overlapping)."""

    rule: str
    label: str
    changes: tuple[TextEdit, ...]
    #: The rule's measured precision.
    confidence: float


def default_rules() -> frozenset[str]:
    """The rules on by default: those whose measured precision reaches :data:`MIN_PRECISION`."""
    return frozenset(rule for rule, precision in PRECISION.items() if precision >= MIN_PRECISION)


def configured(spec: str) -> frozenset[str]:
    """The rules a ``NEXT_EDIT_RULES`` value names: ``default``, ``none`` (or empty), or rule
    names, comma-separated (:class:`ValueError` naming an unknown one)."""
    spec = spec.strip()
    if spec == "default":
        return default_rules()
    if spec in ("", "none"):
        return frozenset()
    names = frozenset(name.strip() for name in spec.split(",") if name.strip())
    unknown = sorted(names - set(PRECISION))
    if unknown:
        raise ValueError(f"NEXT_EDIT_RULES: unknown rule {', '.join(unknown)} (the rules: "
                         f"{', '.join(sorted(PRECISION))}, or default, or none)")
    return names


def propose(before: str, after: str, language: str, rules: frozenset[str] | None = None
            ) -> list[Suggestion]:
    """What follows from the change that took ``before`` to ``after`` (``rules``: which to run;
    ``None``: :func:`default_rules`)."""
    wanted = default_rules() if rules is None else rules
    if len(before) > MAX_CHARS or len(after) > MAX_CHARS:
        return []
    region = changed_region(before, after)
    if region is None:
        return []
    found: list[Suggestion] = []
    if RENAME in wanted:
        replaced = replaced_identifier(before, after, region)
        renamed = (propagate_rename(before, after, language, region, replaced) if replaced
                   else None)
        if renamed is not None and len(renamed.changes) <= MAX_CHANGES:
            count = len(renamed.changes)
            label = (f"rename {count} more use{'s' if count > 1 else ''} of `{renamed.old}` "
                     f"to `{renamed.new}`")
            if len(label) > MAX_LABEL:
                label = f"rename {count} more use{'s' if count > 1 else ''} of this name"
            found.append(Suggestion(RENAME, label, renamed.changes, PRECISION[RENAME]))
    if SIGNATURE in wanted and not found:
        signature = propagate_signature(before, after, language, region)
        if signature is not None and len(signature.changes) <= MAX_CHANGES:
            found.append(Suggestion(SIGNATURE, signature.label[:MAX_LABEL], signature.changes,
                                    PRECISION[SIGNATURE]))
    if REPEAT in wanted and not found:
        repeated = propagate_repeat(before, after, language, region)
        if repeated is not None and len(repeated.changes) <= MAX_CHANGES:
            found.append(Suggestion(REPEAT, repeated.label[:MAX_LABEL], repeated.changes,
                                    PRECISION[REPEAT]))
    return found
