"""Context from "open" files in training and evaluation: other files of the same package.

A developer's other open documents are usually files of the same project; in the corpus, the
files of the same package and language stand in for them. The worker's own choice and rendering
(``documents.cross_file``) turns them into the prompt's context, so the model is trained and
measured on exactly what the server sends.
"""

from __future__ import annotations

import random

from corpus.files import SourceFile
from documents import cross_file
from documents.languages import by_id

#: How many other files are "open" at most (at least one, when the package has another).
OPEN_FILES = 4
#: Indexed files kept (they are cut into windows once).
KEEP_INDEXED = 3000


class OpenFiles:
    """Picks other files of a file's package and language and writes the context they give."""

    def __init__(self, files: list[SourceFile], rng: random.Random) -> None:
        self.files = files
        self.rng = rng
        self.siblings: dict[tuple[str, str], list[int]] = {}
        for number, file in enumerate(files):
            self.siblings.setdefault((file.package, file.language), []).append(number)
        self.indexes: dict[int, cross_file.Neighbour] = {}

    def neighbours(self, file: SourceFile) -> list[cross_file.Neighbour]:
        """Up to ``OPEN_FILES`` other files of the same package and language, indexed."""
        others = [n for n in self.siblings.get((file.package, file.language), [])
                  if self.files[n] is not file]
        picked = self.rng.sample(others, min(len(others), self.rng.randint(1, OPEN_FILES)))
        if len(self.indexes) > KEEP_INDEXED:
            self.indexes.clear()
        for number in picked:
            if number not in self.indexes:
                other = self.files[number]
                self.indexes[number] = cross_file.index(other.path, other.text)
        return [self.indexes[n] for n in picked]

    def context(self, file: SourceFile, prefix: str, prefix_chars: int) -> str:
        """The rendered context for a cursor after ``prefix`` in ``file`` ("" when none), from
        the last ``prefix_chars`` of it (the layout's ``SCOPE_CHARS``: what the worker sends)."""
        language = by_id(file.language)
        if language is None:
            return ""
        return cross_file.render(cross_file.choose(prefix[-prefix_chars:], self.neighbours(file)),
                                 language.line_comment)
