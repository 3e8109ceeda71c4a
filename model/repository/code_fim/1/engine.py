"""Generation for many requests at once: prompt states reused, tokens chosen, completions stopped.

No Triton here: ``model.py`` feeds requests in and sends out what :meth:`Engine.advance` returns,
so tests and the evaluation command drive the very same code. The network is a GGUF model run by
llama.cpp (``llama_network.py``): the engine asks it only for logits and decides everything else
itself. Per request: the prompt is run through the network, reusing the cached states of the
longest earlier prompt it starts with (a copy of that llama.cpp sequence); then every call to
``advance`` moves each active request by one token, all rows in one ``llama_decode``
(continuous batching: requests join and leave between steps).

A word typed in part before the cursor is taken out of the prompt and generated again under a
constraint ("token healing"): the model was trained on whole tokens, and ``li|`` tokenizes unlike
the ``limit`` it should complete to; the constraint keeps the regenerated start equal to what was
typed, and it is not shown again. So is a punctuation token ending the prefix that a longer token
starts with (``/`` before ``/ comment``, which the model knows as ``//``).

A one-line completion is searched for (beam search over ``BEAM_WIDTH`` hypotheses, a slot of
the batch each, sharing the prompt's states): the line most probable as a whole, its end
included, not the one whose every token was likeliest in turn. A line is shown whole anyway (at
its end the confidence is judged), so searching delays nothing the editor would have seen;
without a threshold, what every hypothesis still agrees on is streamed. A block is generated
greedily and released line by line.

Choosing a token mixes the network's distribution with a copy model of the document: what
followed the longest run of the same last tokens elsewhere in the file or in the other open
files' code (the identifiers and lines a project already uses are the best predictor of its next
ones), trusted by the run's length. Each completion carries a confidence, the product
of its tokens' probabilities (its end included). It is judged at the end of every line: a line
that takes it below the request's threshold is not shown, nor anything after it, so what is shown
is whole lines the model is reasonably sure of. With a threshold, text is therefore released a
line at a time; without one (0), as it becomes certain (a block token by token, a searched line
as far as its hypotheses agree).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from bpe import Tokenizer, Tokenizing
from gguf_tokenizer import FimMarkers
from layout import prefix_window, prompt_ids
from llama_network import DIGEST_KEY, LlamaNetwork, LoadError, SequenceBatch, SequenceCache
from numpy.typing import NDArray
from rules import Context, LanguageRules, context_of, finish, settled, stop_point
from vocabulary import Vocabulary

#: How much the document's copy model is trusted against the network, by the length of the
#: longest match of the last tokens in the document (bucket ``i``: at least
#: ``COPY_MATCH_BOUNDS[i]`` tokens) and by whether that match occurred once or more often. Fitted
#: by maximum likelihood on training files (``python -m training.copy_calibration``): a
#: long match is a line being copied, a one-token match is barely evidence.
COPY_MATCH_BOUNDS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24)
COPY_TRUST = (
    (0.04, 0.17, 0.29, 0.37, 0.41, 0.50, 0.58, 0.69, 0.76, 0.85),  # seen once
    (0.08, 0.19, 0.29, 0.34, 0.37, 0.45, 0.66, 0.72, 0.83, 0.89),  # seen more often
)
#: Scales every trust above (0 turns the copy model off; the evaluation's ablation).
COPY_WEIGHT = 1.0
#: Longest match looked for (tokens): longer ones are as good as this.
COPY_MAX_MATCH = 32
#: Default confidence threshold: below it nothing more is shown (see docs/MODEL.md for the
#: trade-off between answering and being right). A searched line's confidence (the best line's
#: probability, any line end counted) runs higher than a greedy line's: at 0.05 the held-out
#: one-line positions were 58 % answered, 39.8 % of them exactly; at 0.1, 44 % and 48.6 %.
DEFAULT_THRESHOLD = 0.1
#: The network computing logits (``load_network``): code_fim's float16 export (its 8-bit one
#: held the same held-out quality but was no faster here: docs/MODEL.md).
DEFAULT_NETWORK = "code_fim.f16.gguf"
#: Cached prompt states kept for reuse (each a llama.cpp sequence of the model's context).
PREFIX_CACHE_ENTRIES = 16
#: Sequences generated at once (each holds a slot of the batch's key/value arrays, a searched
#: line up to ``BEAM_WIDTH``).
SLOTS = 8
#: Hypotheses a one-line completion's search keeps (1: greedy). Exact match of one-line
#: completions on a 267-task sample of the held-out split: greedy 0.251, 1 (greedy but ending
#: where the line's end is likelier than any next token) 0.266, 3: 0.292, 5: 0.288, 8: 0.296.
BEAM_WIDTH = 3
#: How the search chooses among the lines that ended: the best log-probability divided by the
#: line's length in bytes to this power (0: the likeliest line; higher favours longer lines, which
#: a product of probabilities penalizes for every token). Only the final choice: hypotheses are
#: still pruned by probability. On the 595 held-out one-line tasks, 0.45 raised edit similarity
#: (0.472 -> 0.491) and lowered exact match (0.254 -> 0.249): exact match is the target, so 0.
LENGTH_NORMALIZATION = 0.0
#: A cached prompt is reused only when at least this many leading tokens match.
MIN_REUSE = 8
MIN_WINDOW = 256
#: Characters of the document around the cursor the copy model reads.
COPY_PREFIX_CHARS = 16000
COPY_SUFFIX_CHARS = 4000
COPY_CONTEXT_CHARS = 4000


#: A completion whose last tokens are the same short run of tokens this many times in a row is
#: stuck (greedy decoding of a small model can be): it ends there.
LOOP_REPEATS = 4


def looping(history: list[int], generated: int) -> bool:
    """Whether the last ``generated`` tokens end with a run of 1 to 4 tokens repeated
    ``LOOP_REPEATS`` times."""
    for width in range(1, 5):
        span = width * LOOP_REPEATS
        if generated < span:
            break
        run = history[-width:]
        if all(history[-k * width - width:len(history) - k * width] == run for k in range(1, LOOP_REPEATS)):
            return True
    return False


def load_languages(path: Path) -> dict[str, LanguageRules]:
    """The stop rules' language table (``python -m training.languages`` writes it)."""
    table = json.loads(path.read_text())
    return {k: LanguageRules(v["blocks"], v["line_comment"]) for k, v in table.items()}


@dataclass(frozen=True, slots=True)
class Request:
    prefix: str
    suffix: str
    language: str
    max_tokens: int
    threshold: float = DEFAULT_THRESHOLD
    #: Other files' snippets and signatures, already written as comments (the worker's choice).
    context: str = ""


def uncommented(context: str, comment: str | None) -> str:
    """The other files' code in ``context`` (written by the worker as comment lines, each file
    under a ``From name:`` line): what the copy model copies from must read like code, or it
    would copy comment marks into the completion."""
    if not context or not comment:
        return ""
    lines = []
    for line in context.split("\n"):
        if line == comment:
            lines.append("")
        elif line.startswith(comment + " From ") and line.endswith(":"):
            lines.append("")  # the file's name line
        elif line.startswith(comment + " "):
            lines.append(line[len(comment) + 1:])
    return "\n".join(lines)


def copy_bucket(length: int, total: int) -> tuple[int, int]:
    """Where a longest match of ``length`` tokens seen ``total`` times is in ``COPY_TRUST``."""
    bucket = 0
    while bucket + 1 < len(COPY_MATCH_BOUNDS) and length >= COPY_MATCH_BOUNDS[bucket + 1]:
        bucket += 1
    return (1 if total > 1 else 0), bucket


def copy_trust(length: int, total: int) -> float:
    """The copy model's weight for a longest match of ``length`` tokens seen ``total`` times."""
    seen, bucket = copy_bucket(length, total)
    return COPY_TRUST[seen][bucket]


@dataclass(frozen=True, slots=True)
class Copied:
    """What followed the longest match of the last tokens in the document."""

    counts: Counter[int]
    total: int
    length: int


class CopyModel:
    """What followed the longest run of the last tokens (up to ``COPY_MAX_MATCH``) elsewhere in
    the document: the tokens after every place that run occurs.

    Nothing is built up front (a request may stop after one token): each prediction narrows the
    places where the last token occurs, one token further back at a time, in vectorized passes.
    Only the document is copied from, never the completion itself (which would feed a loop)."""

    def __init__(self, ids: list[int], boundary: int = -1, max_match: int = COPY_MAX_MATCH) -> None:
        self.max_match = max_match
        self.ids = np.asarray(ids, dtype=np.int64)
        #: The separator between the document's parts (never a continuation: a part may be cut).
        self.boundary = boundary

    def predict(self, history: list[int]) -> Copied | None:
        """The continuations of the longest match (``None``: the last token never occurs)."""
        ids = self.ids
        if not history or len(ids) < 2:
            return None
        # Positions of next tokens whose previous token is the last one of the history; the
        # next token must be whole: not a separator, nor the last before one (a part cut at a
        # length, or another file ending in a word being typed, ends in a token cut short).
        found = np.flatnonzero(ids[:-2] == history[-1]) + 1
        found = found[(ids[found] != self.boundary) & (ids[found + 1] != self.boundary)]
        if not found.size:
            return None
        length = 1
        for k in range(2, min(self.max_match, len(history)) + 1):
            kept = found[found >= k]
            kept = kept[ids[kept - k] == history[-k]]
            if not kept.size:
                break
            found, length = kept, k
        return Copied(Counter(ids[found].tolist()), int(found.size), length)


def mix_copy(probabilities: NDArray[Any], copied: Copied | None, weight: float) -> NDArray[Any]:
    """The network's distribution mixed in place with the copy model's, trusted by the match."""
    if copied is None or weight <= 0:
        return probabilities
    trust = min(1.0, weight * copy_trust(copied.length, copied.total))
    probabilities *= 1 - trust
    for token, count in copied.counts.items():
        probabilities[token] += trust * count / copied.total
    return probabilities


class Prepared(NamedTuple):
    """A request made ready to run: its stop context, the part-typed word taken out of the
    prompt, the prompt, the prefix's ids (the copy model's history) and the copy model."""

    context: Context
    partial: str
    prompt: list[int]
    history: list[int]
    copy: CopyModel


@dataclass(eq=False)
class Hypothesis:
    """One line being searched for: its own slot (the prompt's states, then its tokens')."""

    cache: SequenceCache
    history: list[int]
    generated: bytes
    unmatched: str
    logprob: float = 0.0
    tokens: int = 0
    logits: NDArray[Any] | None = None
    pending: int | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A searched line that ended: its log-probability (its end included), bytes, tokens (the
    copy model's history with them) and why it ended."""

    logprob: float
    generated: bytes
    tokens: int
    history: list[int]
    reason: str


@dataclass(eq=False)
class Sequence:
    """One request being generated."""

    request: Request
    context: Context
    prompt: list[int]
    cache: SequenceCache
    copy: CopyModel
    history: list[int]
    logits: NDArray[Any] | None = None
    pending: int | None = None
    generated: bytearray = field(default_factory=bytearray)
    #: The word part-typed before the cursor, taken out of the prompt: the model writes it again
    #: (constrained to it) so it sees whole tokens, and it is not shown.
    partial: str = ""
    unmatched: str = ""
    text: str = ""
    emitted: str = ""
    tokens: int = 0
    confidence: float = 1.0
    done: bool = False
    reason: str = ""
    reused: int = 0
    #: Where each line of ``text`` ended (and the whole completion, last) with the confidence
    #: there: what the completion would be at any threshold (the evaluation reads it).
    line_ends: list[tuple[int, float]] = field(default_factory=list)
    #: End of the text that passed the threshold so far.
    accepted: int = 0
    #: A one-line search's live hypotheses, the slots it holds spare, its best ended line.
    hypotheses: list[Hypothesis] = field(default_factory=list)
    spare: list[SequenceCache] = field(default_factory=list)
    found: Found | None = None
    #: Every line the search ended (the choice among them depends on the threshold).
    ended: list[Found] = field(default_factory=list)

    def drop_search(self, batch: SequenceBatch) -> None:
        """Gives back the search's slots but the sequence's own."""
        for cache in [h.cache for h in self.hypotheses] + self.spare:
            if cache is not self.cache:
                batch.give(cache)
        self.hypotheses, self.spare = [], []


class PrefixCache:
    """Prompt states of recent requests, by their token ids (least recently used goes first).
    Entries are copied in and out of generation slots, never shared with them."""

    def __init__(self, transformer: LlamaNetwork, entries: int = PREFIX_CACHE_ENTRIES) -> None:
        self.transformer = transformer
        self.entries = entries
        self.stored: OrderedDict[bytes, tuple[NDArray[Any], SequenceCache]] = OrderedDict()

    def lookup(self, ids: list[int]) -> tuple[SequenceCache | None, int]:
        """The entry sharing the longest start with ``ids`` and how many positions it shares
        (at most ``len(ids) - 1``: the last prompt token must run to give the next one)."""
        wanted = np.asarray(ids, dtype=np.int64)
        best_key, best = None, 0
        for key, (stored, _) in self.stored.items():
            n = min(len(stored), len(wanted))
            differ = np.flatnonzero(stored[:n] != wanted[:n])
            common = int(differ[0]) if differ.size else n
            if common > best:
                best_key, best = key, common
        if best_key is None or best < MIN_REUSE:
            return None, 0
        self.stored.move_to_end(best_key)
        return self.stored[best_key][1], min(best, len(ids) - 1)

    def store(self, ids: list[int], source: SequenceCache) -> None:
        """Keeps a copy of ``source``'s states for the prompt ``ids``."""
        if self.entries <= 0:
            return
        array = np.asarray(ids, dtype=np.int64)
        key = array.tobytes()
        if key in self.stored:
            self.stored.move_to_end(key)
            return
        if len(self.stored) >= self.entries:
            self.transformer.forget(self.stored.popitem(last=False)[1][1])
        # Exactly the prompt's positions: an entry costs what its prompt holds, not a context.
        entry = self.transformer.keep(source, len(ids))
        if entry is not None:
            self.stored[key] = (array, entry)


def load_network(directory: Path, choice: str | None = None, threads: int = 1) -> LlamaNetwork:
    """The network that computes logits, a GGUF file run by llama.cpp: ``choice`` (default: the
    ``COMPLETION_MODEL`` variable, else ``DEFAULT_NETWORK``) is one of code_fim's exports in
    ``directory`` (``code_fim.f16.gguf``, ``code_fim.q8_0.gguf``; it must come from this
    directory's weights) or the path of any other GGUF model, which is *brought*: it keeps its
    own tokenizer. ``threads``: llama.cpp's threads for this network."""
    choice = choice or os.environ.get("COMPLETION_MODEL") or DEFAULT_NETWORK
    network = LlamaNetwork(directory / choice, threads)  # an absolute path stays itself
    made_from = network.metadata(DIGEST_KEY)
    if made_from is None:
        network.brought = True
        return network
    weights = hashlib.sha256((directory / "weights.npz").read_bytes()).hexdigest()
    if made_from != weights:
        network.close()
        raise LoadError(f"{directory / choice}: exported from other weights than "
                        f"{directory / 'weights.npz'} (run `python -m training.gguf_export`)")
    return network


class Engine:
    """Starts requests and advances all active ones a token at a time."""

    def __init__(self, transformer: LlamaNetwork, tokenizer: Tokenizing,
                 languages: dict[str, LanguageRules], copy_weight: float = COPY_WEIGHT,
                 prefix_cache_entries: int = PREFIX_CACHE_ENTRIES, slots: int = SLOTS,
                 window: int | None = None, beam_width: int = BEAM_WIDTH,
                 length_normalization: float = LENGTH_NORMALIZATION,
                 fim: FimMarkers | None = None) -> None:
        self.transformer = transformer
        self.tokenizer = tokenizer
        #: A brought model's FIM markers (``None``: code_fim's own prompt layout).
        self.fim = fim
        self.languages = languages
        self.copy_weight = copy_weight
        #: The prompt window (the prompt takes up to ``window - 65`` tokens, the completion the
        #: rest of the model's context): the model's context unless set lower.
        self.window = min(window or transformer.context, transformer.context)
        if self.window < MIN_WINDOW:
            raise ValueError(f"code_fim: a prompt window of {self.window} tokens is below "
                             f"{MIN_WINDOW} (config parameter PROMPT_WINDOW)")
        self.prefix_cache = PrefixCache(transformer, prefix_cache_entries)
        self.beam_width = max(1, beam_width)
        self.length_normalization = length_normalization
        self.batch = transformer.new_batch(slots * self.beam_width, prefix_cache_entries)
        self.vocabulary = Vocabulary(tokenizer, transformer.vocab)
        self.eot = self.vocabulary.eot

    @classmethod
    def load(cls, directory: Path, network: str | None = None, fim_template: str | None = None,
             threads: int = 1, **options: Any) -> Engine:
        """The engine of a model directory: its network (see :func:`load_network`), tokenizer
        and language table. A brought GGUF model keeps its own tokenizer and FIM markers (those
        of ``fim_template`` or the ``COMPLETION_FIM_TEMPLATE`` variable, else its file's)."""
        loaded = load_network(directory, network, threads)
        languages = load_languages(directory / "languages.json")
        if not loaded.brought:
            return cls(loaded, Tokenizer.load(directory / "tokenizer.json"), languages, **options)
        from gguf_tokenizer import GgufTokenizer, TemplateError

        try:
            tokenizer = GgufTokenizer(loaded.llama, loaded.model)
            fim = tokenizer.fim_markers(fim_template or os.environ.get("COMPLETION_FIM_TEMPLATE"))
        except TemplateError as error:
            loaded.close()
            raise LoadError(f"{loaded.path}: {error}") from None
        return cls(loaded, tokenizer, languages, fim=fim, **options)

    def prepare(self, request: Request) -> Prepared:
        """The request's prompt ids and copy model (no network run yet)."""
        rules = self.languages.get(request.language, LanguageRules())
        context = context_of(request.prefix, request.suffix, rules)
        partial = self.vocabulary.partial_token(request.prefix)
        healed = request.prefix[:len(request.prefix) - len(partial)]
        prompt = prompt_ids(self.tokenizer, healed, request.suffix, request.language,
                            request.context, window=self.window, fim=self.fim)
        # Cut where it stays put while typing (the tokenizer then reuses the lines above).
        history = self.tokenizer.encode(prefix_window(healed, COPY_PREFIX_CHARS))
        # Copied from: the other open files' code (the context without its comment marks),
        # the code after the cursor, the prefix.
        others = uncommented(request.context[:COPY_CONTEXT_CHARS], rules.line_comment)
        document = [*self.tokenizer.encode(others), self.eot,
                    *self.tokenizer.encode(request.suffix[:COPY_SUFFIX_CHARS]), self.eot, *history]
        return Prepared(context, partial, prompt, history, CopyModel(document, self.eot))

    def start(self, request: Request) -> Sequence:
        """Tokenizes and runs the prompt (reusing cached states) and chooses the first token."""
        context, partial, prompt, history, copy = self.prepare(request)
        cache = self.batch.take()
        try:
            entry, reused = self.prefix_cache.lookup(prompt)
            if entry is not None:
                cache.copy_from(entry, reused)
            alone = len(self.batch.free) == len(self.batch.caches) - 1  # only this one's slot
            logits = self.transformer.prefill(prompt[reused:], cache, alone)
            sequence = Sequence(request, context, prompt, cache, copy, history,
                                logits=logits, reused=reused, partial=partial, unmatched=partial)
            if context.mode == "line" and self.beam_width > 1:
                sequence.hypotheses = [Hypothesis(cache, history, b"", partial, logits=logits)]
                self._search(sequence)
            else:
                self._choose(sequence)
        except BaseException:
            self.batch.give(cache)  # the slot is not lost to a failed start
            raise
        return sequence

    def advance(self, sequences: list[Sequence]) -> None:
        """One token more for every sequence still generating (every hypothesis of a search)."""
        rows: list[Sequence | Hypothesis] = []
        for sequence in sequences:
            if sequence.done:
                continue
            if sequence.hypotheses:
                rows += sequence.hypotheses
            elif sequence.pending is not None:
                rows.append(sequence)
        if not rows:
            return
        tokens = [row.pending for row in rows if row.pending is not None]
        alone = sum(not sequence.done for sequence in sequences) == 1  # one request's rows
        logits = self.transformer.step(tokens, [row.cache for row in rows], alone)
        for index, row in enumerate(rows):
            row.logits = logits[index]
        for sequence in sequences:
            if sequence.done:
                continue
            if sequence.hypotheses:
                self._search(sequence)
            elif sequence.pending is not None:
                self._choose(sequence)

    def release(self, sequence: Sequence, keep: bool = True) -> None:
        """Frees the sequence's slots, first keeping its prompt states (``keep``) for later
        requests that start the same way. Every started sequence must be released once."""
        sequence.drop_search(self.batch)
        if keep:
            self.prefix_cache.store(sequence.prompt, sequence.cache)
        self.batch.give(sequence.cache)

    def take_output(self, sequence: Sequence) -> str:
        """Text that became final since the last call. With a threshold, only whole lines the
        model is confident enough in are final (nothing shown is ever taken back)."""
        if sequence.done:
            shown = finish(sequence.text, sequence.context)
            if not shown.startswith(sequence.emitted):  # cannot happen if `settled` holds back enough
                shown = sequence.emitted
        else:
            text = self._agreed(sequence) if sequence.hypotheses else sequence.text
            end = settled(text, sequence.context)
            if sequence.request.threshold > 0:
                end = min(end, sequence.accepted)
            shown = text[:end]
        if len(shown) <= len(sequence.emitted):
            return ""
        new = shown[len(sequence.emitted):]
        sequence.emitted = shown
        return new

    def _agreed(self, sequence: Sequence) -> str:
        """What every line the search can still end with starts with: the live hypotheses'
        common start and the chosen ended line's (without a threshold it streams before the end)."""
        texts = [h.generated for h in sequence.hypotheses]
        chosen = self.choice(sequence, sequence.request.threshold)
        if chosen is not None:
            texts.append(chosen.generated)
        low, high = min(texts), max(texts)  # the two most different, in sorted order
        same = 0
        while same < len(low) and low[same] == high[same]:
            same += 1
        return low[:same].decode("utf-8", errors="ignore")[len(sequence.partial):]

    def _distribution(self, sequence: Sequence) -> NDArray[Any]:
        assert sequence.logits is not None
        probabilities = self.vocabulary.network_distribution(sequence.logits)
        if self.copy_weight > 0:
            mix_copy(probabilities, sequence.copy.predict(sequence.history), self.copy_weight)
        return probabilities

    def _choose(self, sequence: Sequence) -> None:
        probabilities = self._distribution(sequence)
        if sequence.unmatched:  # as in the search: only the word's first token renormalized
            probabilities = self.vocabulary.consistent(probabilities, sequence.unmatched,
                                                       renormalize=not sequence.generated)
        token = int(probabilities.argmax())
        sequence.confidence *= float(probabilities[token])
        sequence.pending = None
        if token == self.eot:
            _end(sequence, "eot")
            return
        sequence.history.append(token)
        sequence.generated += self.tokenizer.token_bytes(token)
        if sequence.unmatched:
            piece = self.vocabulary.texts[token]
            matched = sequence.unmatched.startswith(piece)
            sequence.unmatched = sequence.unmatched[len(piece):] if matched else ""
            if sequence.unmatched or sequence.generated == sequence.partial.encode():
                sequence.pending = token  # still inside the typed word: nothing new yet
                return
        sequence.tokens += 1  # tokens that only repeat the typed word do not count
        checked = len(sequence.text)
        sequence.text = sequence.generated.decode("utf-8", errors="ignore")[len(sequence.partial):]
        cut = stop_point(sequence.text, sequence.context)
        if cut is not None:
            sequence.text = sequence.text[:cut]
        newline = sequence.text.find("\n", checked)
        while newline != -1:  # each line that ended with this token is judged once
            if not _judge(sequence, newline):
                return
            newline = sequence.text.find("\n", newline + 1)
        if cut is None and looping(sequence.history, sequence.tokens):
            _end(sequence, "loop")
        elif cut is not None:
            _end(sequence, "rule")
        elif sequence.tokens >= sequence.request.max_tokens:
            _end(sequence, "length")
        elif sequence.cache.length >= self.transformer.context:
            _end(sequence, "context")
        else:
            sequence.pending = token

    def _search(self, sequence: Sequence) -> None:
        """One step of a one-line completion's beam search: every hypothesis either ends here
        (the probability of a line end, whichever token makes it) or goes on by its likeliest
        tokens; the best ``beam_width`` go on while they may still beat the best ended line."""
        request, width = sequence.request, self.beam_width
        floor = math.log(request.threshold) if request.threshold > 0 else -math.inf
        candidates: list[tuple[float, int, int]] = []
        for index, hypothesis in enumerate(sequence.hypotheses):
            assert hypothesis.logits is not None
            probabilities = self.vocabulary.network_distribution(hypothesis.logits)
            if self.copy_weight > 0:
                mix_copy(probabilities, sequence.copy.predict(hypothesis.history), self.copy_weight)
            if hypothesis.unmatched:
                # Renormalized once, over the first token: later steps keep the network's own
                # probabilities, so a path that cuts the typed word into unusual tokens (which
                # leaves the network lost after it) is not made as likely as the usual one.
                probabilities = self.vocabulary.consistent(probabilities, hypothesis.unmatched,
                                                           renormalize=not hypothesis.generated)
            else:
                if hypothesis.tokens:
                    ending = float(probabilities[self.vocabulary.line_ends].sum())
                    _found(sequence, Found(hypothesis.logprob + math.log(max(ending, 1e-300)),
                                                hypothesis.generated, hypothesis.tokens,
                                                hypothesis.history, "line"))
                if hypothesis.tokens >= request.max_tokens or \
                        hypothesis.cache.length >= self.transformer.context:
                    _found(sequence, Found(hypothesis.logprob, hypothesis.generated,
                                                hypothesis.tokens, hypothesis.history, "length"))
                    continue
                probabilities[self.vocabulary.line_ends] = 0.0
            if looping(hypothesis.history, hypothesis.tokens):
                continue
            for token in np.argpartition(-probabilities, width)[:width]:
                if probabilities[token] > 0:
                    candidates.append((hypothesis.logprob + math.log(float(probabilities[token])),
                                       index, int(token)))
        best = max(floor, sequence.found.logprob if sequence.found else -math.inf)
        kept = sorted((c for c in candidates if c[0] > best), reverse=True)[:width]
        if not kept:
            self._end_search(sequence)
            return
        self._branch(sequence, kept)

    def _branch(self, sequence: Sequence, kept: list[tuple[float, int, int]]) -> None:
        """The next hypotheses: each parent's first child keeps its slot; further children get
        a copy of the parent in a slot no parent keeps or in a fresh one from the batch, if any
        is free."""
        parents = sequence.hypotheses
        continued = {index for _, index, _ in kept}
        spare = sequence.spare + [h.cache for i, h in enumerate(parents) if i not in continued]
        taken: set[int] = set()
        hypotheses = []
        for logprob, index, token in kept:
            parent = parents[index]
            if index not in taken:
                taken.add(index)
                cache = parent.cache
            elif spare:
                cache = spare.pop()
                cache.copy_from(parent.cache, parent.cache.length)
            elif self.batch.free:
                cache = self.batch.take()
                cache.copy_from(parent.cache, parent.cache.length)
            else:
                continue  # the batch is full: a narrower search
            generated = parent.generated + self.tokenizer.token_bytes(token)
            unmatched = parent.unmatched
            if unmatched:
                piece = self.vocabulary.texts[token]
                unmatched = unmatched[len(piece):] if unmatched.startswith(piece) else ""
            healing = bool(unmatched) or generated == sequence.partial.encode()
            hypotheses.append(Hypothesis(cache, [*parent.history, token], generated, unmatched,
                                         logprob, parent.tokens + (0 if healing else 1),
                                         pending=token))
        sequence.hypotheses, sequence.spare = hypotheses, spare

    def choice(self, sequence: Sequence, threshold: float) -> Found | None:
        """The line a search shows at ``threshold``, of those ended so far: among those whose
        probability passes it, the best by log-probability per length (``length_normalization``).
        The same at any threshold whether the search ran at it or at 0 (lines pruned at the
        threshold's floor could only have ended below it)."""
        alpha, typed = self.length_normalization, len(sequence.partial.encode())

        def score(found: Found) -> float:
            return found.logprob / max(1, len(found.generated) - typed) ** alpha if alpha else found.logprob

        passing = [f for f in sequence.ended if math.exp(f.logprob) >= threshold]
        return max(passing, key=score, default=None)

    def text_at(self, sequence: Sequence, threshold: float) -> str:
        """What a finished sequence run at threshold 0 would have ended with at ``threshold``
        (before :func:`rules.finish`): the evaluation's trade-off, from one run."""
        if not sequence.ended:
            passed = [end for end, confidence in sequence.line_ends if confidence >= threshold]
            return sequence.text[:passed[-1]] if passed else ""
        chosen = self.choice(sequence, threshold)
        return "" if chosen is None else _line_text(sequence, chosen)

    def _end_search(self, sequence: Sequence) -> None:
        """The chosen ended line becomes the completion, its probability the confidence."""
        sequence.drop_search(self.batch)
        found = self.choice(sequence, sequence.request.threshold) or sequence.found
        if found is None:
            sequence.confidence = 0.0
            _end(sequence, "unsure")
            return
        sequence.generated = bytearray(found.generated)
        sequence.tokens, sequence.history = found.tokens, found.history
        sequence.confidence = math.exp(found.logprob)
        sequence.text = _line_text(sequence, found)
        _end(sequence, found.reason)


def _end(sequence: Sequence, reason: str) -> None:
    """Ends the completion; under the threshold, at its last line that passed ("unsure")."""
    sequence.done, sequence.reason = True, reason
    _judge(sequence, len(sequence.text))


def _found(sequence: Sequence, found: Found) -> None:
    sequence.ended.append(found)
    if sequence.found is None or found.logprob > sequence.found.logprob:
        sequence.found = found


def _line_text(sequence: Sequence, found: Found) -> str:
    text = found.generated.decode("utf-8", errors="ignore")[len(sequence.partial):]
    cut = stop_point(text, sequence.context)
    return text if cut is None else text[:cut]


def _judge(sequence: Sequence, end: int) -> bool:
    """Whether the completion may go on past ``end`` (a line's end in ``text``): the
    confidence so far is recorded there; under the threshold, the completion ends at the
    last line that passed."""
    sequence.line_ends.append((end, sequence.confidence))
    if sequence.confidence < sequence.request.threshold:
        sequence.text = sequence.text[:sequence.accepted]
        sequence.done, sequence.reason = True, "unsure"
        return False
    sequence.accepted = end
    return True
