"""The served model's pure parts with the committed artifact: tokenizer, prompt layout, and the
engine that drives code_fim's network on llama.cpp (its cache of past states, batched steps)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from documents import cross_file
from training import languages as language_table

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))
import bpe  # noqa: E402
import engine  # noqa: E402
import layout  # noqa: E402
import llama_network  # noqa: E402
import rules  # noqa: E402
import vocabulary  # noqa: E402

TOKENIZER = bpe.Tokenizer.load(MODEL_DIR / "tokenizer.json")
SOURCE = '''import os


def read_lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def count_lines(path):
    lines = read_lines(path)
    return len(lines)


class Config:
    def __init__(self, path, name):
        self.path = path
        self.name = name
'''


@pytest.fixture(scope="module")
def model() -> llama_network.LlamaNetwork:
    return engine.load_network(MODEL_DIR)


ENGINE = engine.Engine(engine.load_network(MODEL_DIR), TOKENIZER, {})  # for pure checks


def make_engine(model: llama_network.LlamaNetwork) -> engine.Engine:
    """A fresh engine (empty prompt-state store, a new context) around the loaded weights."""
    return engine.Engine(model, TOKENIZER, engine.load_languages(MODEL_DIR / "languages.json"))


def run(eng: engine.Engine, requests: list[engine.Request]) -> list[engine.Sequence]:
    """Generates like ``model.py`` does: output taken after every step, slots released."""
    sequences = [eng.start(r) for r in requests]
    while True:
        for s in sequences:
            eng.take_output(s)
        if all(s.done for s in sequences):
            break
        eng.advance(sequences)
    for s in sequences:
        eng.release(s)
    return sequences


class TestTokenizer:
    @settings(max_examples=200)
    @given(st.text(max_size=200))
    def test_round_trips_any_text(self, text: str) -> None:
        assert TOKENIZER.decode(TOKENIZER.encode(text)) == text

    @settings(max_examples=200)
    @given(st.lists(st.text(alphabet=" \t\nab_(){}.,:=1é", max_size=30), min_size=1, max_size=6))
    def test_lines_kept_from_earlier_calls_encode_as_the_whole_text_would(
            self, lines: list[str]) -> None:
        # A fresh tokenizer encodes the whole text; the shared one has seen its starts already.
        fresh = bpe.Tokenizer(TOKENIZER.vocab, list(TOKENIZER.ranks))
        text = "\n".join(lines)
        expected = fresh._encode_pieces(text)
        for end in range(len(text) + 1):
            TOKENIZER.encode(text[:end])
        assert TOKENIZER.encode(text) == expected == fresh.encode(text)

    def test_code_takes_fewer_tokens_than_bytes(self) -> None:
        assert len(TOKENIZER.encode(SOURCE)) < len(SOURCE.encode()) / 2.5

    def test_special_tokens_are_not_produced_from_text(self) -> None:
        ids = TOKENIZER.encode("<|endoftext|><|fim_middle|>")
        assert not set(ids) & set(TOKENIZER.special.values())


class TestWindow:
    def test_a_window_below_the_minimum_is_refused_clearly(self, model: llama_network.LlamaNetwork) -> None:
        languages = engine.load_languages(MODEL_DIR / "languages.json")
        with pytest.raises(ValueError, match="PROMPT_WINDOW"):
            engine.Engine(model, TOKENIZER, languages, window=100)
        assert engine.Engine(model, TOKENIZER, languages, window=5000).window == model.context


class TestLayout:
    def test_suffix_comes_first_then_prefix_then_middle_marker(self) -> None:
        ids = layout.prompt_ids(TOKENIZER, "x = 1\n", "y = 2\n", "python")
        special = TOKENIZER.special
        assert ids[0] == special[bpe.LANGUAGE]
        assert ids.index(special[bpe.FIM_SUFFIX]) < ids.index(special[bpe.FIM_PREFIX])
        assert ids[-1] == special[bpe.FIM_MIDDLE]
        assert TOKENIZER.decode(ids) == "pythony = 2\nx = 1\n"

    def test_prompt_fits_the_model(self, model: llama_network.LlamaNetwork) -> None:
        ids = layout.prompt_ids(TOKENIZER, SOURCE * 50, SOURCE * 50, "python")
        assert len(ids) + layout.MIDDLE_TOKENS <= model.context

    def test_typing_keeps_the_start_of_a_long_prompt(self) -> None:
        """Typing at the cursor changes only the end of the prompt, so cached states are reused."""
        long = SOURCE * 20
        before = layout.prompt_ids(TOKENIZER, long, "\n", "python")
        after = layout.prompt_ids(TOKENIZER, long + "x = co", "\n", "python")
        common = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
        assert common >= len(before) - 4

    def test_window_holds_at_least_a_thousand_tokens(self, model: llama_network.LlamaNetwork) -> None:
        assert model.context >= 1024
        ids = layout.prompt_ids(TOKENIZER, SOURCE * 50, SOURCE * 50, "python")
        assert len(ids) >= 900

    @pytest.mark.parametrize("window", [256, 512, 800])
    def test_a_smaller_window_is_kept(self, window: int) -> None:
        context = "# From other.py:\n" + "# def helper(a, b): return a + b\n" * 200
        ids = layout.prompt_ids(TOKENIZER, SOURCE * 50, SOURCE * 50, "python", context,
                                window=window)
        assert window - 2 * layout.PREFIX_STEP - layout.MIDDLE_TOKENS <= len(ids)
        assert len(ids) <= window - layout.MIDDLE_TOKENS

    def test_context_and_everything_long_still_fit(self, model: llama_network.LlamaNetwork) -> None:
        context = "# From other.py:\n" + "# def helper(a, b): return a + b\n" * 200
        ids = layout.prompt_ids(TOKENIZER, SOURCE * 50, SOURCE * 50, "python", context)
        assert len(ids) + layout.MIDDLE_TOKENS <= model.context
        text = TOKENIZER.decode(ids)
        assert "# From other.py:" in text
        prefix_at = ids.index(TOKENIZER.special[bpe.FIM_PREFIX])
        assert TOKENIZER.decode(ids[prefix_at + 1:]).startswith("# From other.py:")

    def test_the_enclosing_signature_and_docstring_stay_in_a_long_function(self) -> None:
        body = "".join(f"    value_{i} = compute(value_{i - 1}, {i})\n" for i in range(1, 400))
        head = 'import os\n\n\ndef transform(records, *, limit=10):\n    """Scale the records."""\n'
        prefix = head + "    value_0 = 0\n" + body + "    "
        text = TOKENIZER.decode(layout.prompt_ids(TOKENIZER, prefix, "\n", "python"))
        assert "value_1 = compute" not in text  # the start of the body is out of the window
        assert 'def transform(records, *, limit=10):\n    """Scale the records."""\n' in text
        assert text.index("def transform") < text.index("value_399")

    def test_no_header_is_repeated_when_the_window_shows_it(self) -> None:
        prefix = "def short(a):\n    b = a\n    "
        text = TOKENIZER.decode(layout.prompt_ids(TOKENIZER, prefix, "\n", "python"))
        assert text.count("def short") == 1

    def test_typing_inside_a_long_function_keeps_the_start(self) -> None:
        body = "".join(f"    value_{i} = compute(value_{i - 1}, {i})\n" for i in range(1, 400))
        prefix = "def transform(records):\n" + body + "    "
        before = layout.prompt_ids(TOKENIZER, prefix, "\n", "python")
        after = layout.prompt_ids(TOKENIZER, prefix + "total = su", "\n", "python")
        common = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
        assert common >= len(before) - 4

    def test_scope_headers_are_the_enclosing_definitions(self) -> None:
        prefix = ("class Store:\n    # Keeps things.\n    def put(self, key,\n            value):\n"
                  '        """Store it."""\n        if key:\n            x = 1\n\n        ')
        headers = [h.text(with_doc=True) for h in layout.scope_headers(prefix)]
        assert headers == ["class Store:",
                           '    def put(self, key,\n            value):\n        """Store it."""']
        commented = prefix.replace('        """Store it."""\n', "")
        assert [h.text(with_doc=True) for h in layout.scope_headers(commented)][1] == \
            "    # Keeps things.\n    def put(self, key,\n            value):"

    @pytest.mark.parametrize(("fields", "body"), [(0, 400), (36, 88), (60, 120), (5, 300)])
    def test_the_innermost_signature_is_always_in_the_prompt(self, fields: int, body: int) -> None:
        head = 'class Widget(Base):\n    """A widget."""\n' + "".join(
            f"    attribute_{i} = {i}\n" for i in range(fields))
        method = "    def render(self, alpha, beta, gamma):\n" + "".join(
            f"        value_{i} = paint(alpha, {i})\n" for i in range(body))
        prefix = head + method + "        "
        text = TOKENIZER.decode(layout.prompt_ids(TOKENIZER, prefix, "\n", "python"))
        assert "def render(self, alpha, beta, gamma):" in text
        assert text.count("def render") == 1

    def test_a_long_doc_comment_never_swallows_the_signature_or_the_prefix(self) -> None:
        comment = "".join(f"    // Explains the parser, line {i}, in some detail.\n" for i in range(8))
        body = "".join(f"        int v{i} = next(tokens, {i});\n" for i in range(300))
        prefix = ("public class Parser {\n" + comment +
                  "    public Expression parseExpression(Tokens tokens) {\n" + body + "        ")
        ids = layout.prompt_ids(TOKENIZER, prefix, "\n    }\n}\n", "java")
        text = TOKENIZER.decode(ids)
        assert "public Expression parseExpression(Tokens tokens) {\n" in text
        assert "\n        int v" in text.split("parseExpression")[1][:400]

    def test_other_files_context_is_cut_at_a_line_end(self) -> None:
        context = "".join(f"# t_{i} = calc(aa_{i}, bb_{i}) + gg_{i}\n" for i in range(100))
        ids = layout.prompt_ids(TOKENIZER, "x = 1\ny = ", "\n", "python", context)
        start = ids.index(TOKENIZER.special[bpe.FIM_PREFIX]) + 1
        text = TOKENIZER.decode(ids[start:-1])
        assert text.endswith("x = 1\ny = ")
        assert text[:-len("x = 1\ny = ")].endswith("\n")

    @given(st.text(alphabet="ab :\n(){}\"#", max_size=300), st.text(alphabet="xy(", max_size=8))
    def test_scope_headers_do_not_change_while_typing_on_a_line(self, text: str, typed: str) -> None:
        assert layout.scope_headers(text) == layout.scope_headers(text + typed) or "\n" in typed

    @given(st.integers(0, 5000), st.integers(1, 255))
    def test_prefix_window_moves_in_steps(self, length: int, typed: int) -> None:
        text = ("abcdefghi\n" * 600)[:length]
        window = layout.prefix_window(text)
        assert len(window) <= layout.PREFIX_CHARS
        assert text.endswith(window)


class TestNetwork:
    def test_cached_steps_equal_one_pass(self, model: llama_network.LlamaNetwork) -> None:
        ids = TOKENIZER.encode(SOURCE)[:120]
        batch = model.new_batch(2)
        whole, cache = batch.take(), batch.take()
        expected = model.prefill(ids, whole)
        model.prefill(ids[:60], cache)
        for token in ids[60:-1]:
            model.step([token], [cache])
        got = model.step([ids[-1]], [cache])[0]
        # Float16 keys and values, summed in another order by the one-row kernel: this close.
        assert np.abs(got - expected).max() < 0.05 and got.argmax() == expected.argmax()

    def test_a_step_for_some_slots_leaves_the_others_intact(self, model: llama_network.LlamaNetwork) -> None:
        batch = model.new_batch(3)
        a, b = batch.take(), batch.take()
        model.prefill([10, 11, 12], a)
        model.prefill([20, 21, 22, 23], b)
        before = model.step([24], [b])[0]
        model.rewind(b, 4)
        model.step([13], [a])
        model.step([14], [a])
        assert np.array_equal(model.step([24], [b])[0], before) and b.length == 5


class TestEngine:
    def test_one_line_completion_stays_on_its_line(self, model: llama_network.LlamaNetwork) -> None:
        cut = SOURCE.index("read_lines(path)\n    return") + len("read_")
        [sequence] = run(make_engine(model), [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 32, 0.0)])
        assert sequence.context.mode == "line"
        assert "\n" not in sequence.emitted and sequence.tokens >= 1

    def test_reusing_cached_states_gives_the_same_completion(self, model: llama_network.LlamaNetwork) -> None:
        eng = make_engine(model)
        cut = SOURCE.index("self.name = name")
        request = engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 24, 0.0)
        [cold] = run(eng, [request])
        [warm] = run(eng, [request])
        assert cold.reused == 0 and warm.reused == len(warm.prompt) - 1
        assert warm.emitted == cold.emitted and cold.tokens > 0

    def test_without_a_store_nothing_is_reused(self, model: llama_network.LlamaNetwork) -> None:
        eng = engine.Engine(model, TOKENIZER, {}, prefix_cache_entries=0)
        cut = SOURCE.index("self.name = name")
        request = engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 4, 0.0)
        [first], [second] = run(eng, [request]), run(eng, [request])
        assert first.reused == second.reused == 0 and first.emitted == second.emitted

    def test_batched_requests_match_requests_alone(self, model: llama_network.LlamaNetwork) -> None:
        cuts = [SOURCE.index(marker) for marker in ("return handle", "lines = read", "self.path =")]
        requests = [engine.Request(SOURCE[:c], SOURCE[c:], "python", 24, 0.0) for c in cuts]
        together = run(make_engine(model), requests)
        alone = [run(make_engine(model), [r])[0] for r in requests]
        assert [s.emitted for s in together] == [s.emitted for s in alone]
        assert any(s.emitted for s in together)

    @pytest.mark.parametrize(("marker", "typed"), [("open(path) as handle", "open(pa"),
                                               ("read_lines(path)\n    return", "read_lin")])
    def test_a_searched_line_is_as_probable_as_its_confidence_says(
            self, model: llama_network.LlamaNetwork, marker: str, typed: str) -> None:
        """The search's bookkeeping (slots shared, tails copied, hypotheses reordered) against
        the line's probability computed again from scratch: prompt, then its tokens one by one
        (only the first token of the part-typed word renormalized over those that agree with
        it), then the probability that the line ends there."""
        eng = make_engine(model)
        cut = SOURCE.index(marker) + len(typed)
        [sequence] = run(eng, [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 24, 0.0)])
        assert sequence.context.mode == "line" and sequence.reason == "line" and sequence.text
        prepared = eng.prepare(sequence.request)
        history = list(prepared.history)
        line = sequence.history[len(history):]
        cache = eng.batch.take()  # every slot is free again after the run
        logits = model.prefill(prepared.prompt, cache)
        unmatched, logprob = prepared.partial, 0.0
        for token in line:
            p = engine.mix_copy(eng.vocabulary.network_distribution(logits), prepared.copy.predict(history),
                                eng.copy_weight)
            if unmatched:
                p = eng.vocabulary.consistent(p, unmatched, renormalize=unmatched == prepared.partial)
                piece = eng.vocabulary.texts[token]
                unmatched = unmatched[len(piece):] if unmatched.startswith(piece) else ""
            logprob += float(np.log(p[token]))
            history.append(token)
            logits = model.step([token], [cache])[0]
        p = engine.mix_copy(eng.vocabulary.network_distribution(logits),
                            prepared.copy.predict(history), eng.copy_weight)
        logprob += float(np.log(p[eng.vocabulary.line_ends].sum()))
        assert sequence.confidence == pytest.approx(float(np.exp(logprob)), rel=1e-3)
        assert TOKENIZER.decode(line) == prepared.partial + sequence.text

    def test_searched_lines_batched_with_blocks_match_requests_alone(
            self, model: llama_network.LlamaNetwork) -> None:
        cuts = [SOURCE.index(m) + k for m, k in (("open(path)", 4), ("as handle:", 10),
                                                   ("self.path =", 6), ("count_lines(", 7))]
        requests = [engine.Request(SOURCE[:c], SOURCE[c:], "python", 24, 0.0) for c in cuts]
        together = run(make_engine(model), requests)
        alone = [run(make_engine(model), [r])[0] for r in requests]
        assert {s.context.mode for s in together} == {"line", "block"}
        assert [s.emitted for s in together] == [s.emitted for s in alone]
        # A row alone or among others goes through another kernel (float16 activations).
        assert [s.confidence for s in together] == pytest.approx([s.confidence for s in alone], rel=2e-3)

    def test_without_a_threshold_a_searched_line_streams_what_all_hypotheses_agree_on(
            self, model: llama_network.LlamaNetwork) -> None:
        eng = make_engine(model)
        early = 0  # lines of which something was streamed before the search ended
        for marker, offset in (("handle.read()", 7), ("read_lines(path)\n    return", 8),
                               ("self.path = path", 5), ("self.name = name", 5), ("len(lines)", 4)):
            cut = SOURCE.index(marker) + offset
            sequence = eng.start(engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 24, 0.0))
            pieces = [eng.take_output(sequence)]
            while not sequence.done:
                eng.advance([sequence])
                pieces.append(eng.take_output(sequence))
            eng.release(sequence)
            assert sequence.context.mode == "line"
            assert "".join(pieces) == sequence.emitted == rules.finish(sequence.text, sequence.context)
            early += any(pieces[:-1])
        assert early >= 1

    def test_a_search_released_midway_frees_every_slot(self, model: llama_network.LlamaNetwork) -> None:
        eng = make_engine(model)
        cut = SOURCE.index("self.name = name") + len("self.")
        sequence = eng.start(engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 24, 0.0))
        eng.advance([sequence])
        assert not sequence.done and len(sequence.hypotheses) > 1
        eng.release(sequence, keep=False)
        assert sorted(eng.batch.free) == list(range(engine.SLOTS * engine.BEAM_WIDTH))

    def test_threshold_one_shows_nothing(self, model: llama_network.LlamaNetwork) -> None:
        cut = SOURCE.index("self.name = name")
        [sequence] = run(make_engine(model), [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 24, 1.0)])
        assert sequence.emitted == "" and sequence.reason in ("unsure", "eot")

    def test_the_copy_model_predicts_what_followed_the_longest_match(self) -> None:
        copy = engine.CopyModel([1, 2, 3, 4, 1, 2, 3, 5, 1, 2, 3, 4, 7, 2, 3])
        assert copy.predict([9, 1, 2, 3]) == engine.Copied(Counter({4: 2, 5: 1}), 3, 3)
        # Two tokens match where three do not (the last "2 3" has nothing after it).
        assert copy.predict([9, 8, 2, 3]) == engine.Copied(Counter({4: 2, 5: 1}), 3, 2)
        # Seven tokens match once: only what followed that place counts.
        assert copy.predict([1, 2, 3, 4, 1, 2, 3]) == engine.Copied(Counter({5: 1}), 1, 7)
        assert copy.predict([6, 6]) is None
        assert engine.CopyModel([]).predict([1]) is None

    def test_the_copy_model_never_continues_into_a_separator(self) -> None:
        # 0 separates the document's parts (the context, the suffix and the prefix may be cut).
        copy = engine.CopyModel([5, 6, 0, 5, 6, 7, 8, 0, 1], boundary=0)
        assert copy.predict([5, 6]) == engine.Copied(Counter({7: 1}), 1, 2)
        assert copy.predict([8]) is None
        # The token before a separator may be cut short (`lim` of a word being typed): not copied.
        assert engine.CopyModel([5, 6, 7, 0, 1, 2], boundary=0).predict([5, 6]) is None

    def test_other_files_are_copied_from_as_code_not_comments(self) -> None:
        context = "# From util.py:\n# def load(path):\n#     return read(path)\n#\n# x = 1"
        assert engine.uncommented(context, "#") == \
            "\ndef load(path):\n    return read(path)\n\nx = 1"
        assert engine.uncommented(context, None) == ""
        assert engine.uncommented("", "//") == ""

    def test_the_workers_rendering_of_other_files_is_read_back_as_their_code(self) -> None:
        # The worker writes the context (documents/cross_file.py); the engine reads it back.
        code = "def load(path):\n\n    return read(path)"
        window = cross_file.Window("file:///w/util.py", code, frozenset())
        assert engine.uncommented(cross_file.render([window], "//"), "//") == "\n" + code

    @given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda p: sum(p) > 0),
           st.dictionaries(st.integers(0, 3), st.integers(1, 5), min_size=1),
           st.integers(1, 40))
    def test_mixing_in_the_copy_model_keeps_a_distribution(
            self, weights: list[float], counts: dict[int, int], length: int) -> None:
        probabilities = np.array(weights) / sum(weights)
        copied = engine.Copied(Counter(counts), sum(counts.values()), length)
        mixed = engine.mix_copy(probabilities.copy(), copied, engine.COPY_WEIGHT)
        assert abs(mixed.sum() - 1) < 1e-9 and (mixed >= 0).all()
        assert 0 <= engine.copy_trust(length, copied.total) < 1

    @pytest.mark.parametrize(("tokens", "stuck"), [
        ([1, 2, 3, 3, 3, 3], True), ([1, 4, 5, 4, 5, 4, 5, 4, 5], True), ([2, 2, 2], False),
        ([1, 2, 3, 4, 5, 6], False), ([7, 7, 8], False)])
    def test_a_completion_stuck_in_a_loop_is_caught(self, tokens: list[int], stuck: bool) -> None:
        assert engine.looping([9, 9, *tokens], len(tokens)) == stuck

    @pytest.mark.parametrize(("prefix", "word"), [
        ("x = read_li", " read_li"), ("return ", " "), ("f(a)", ""), ("self.na", "na"),
        ("x1", "x1"), ("    na", "na"), ("x  na", "na"), ("\n", ""), ("  ", ""),
        ("x " + "n" * 32, " " + "n" * 32), ("x" * 33, ""), (" abc", " abc"), (" ", ""),
        ("f(a, ", " "), ("x\t na", "na")])
    def test_the_part_typed_word_is_found(self, prefix: str, word: str) -> None:
        assert vocabulary.partial_word(prefix) == word

    @pytest.mark.parametrize(("prefix", "token"), [
        ("}  /", "/"), ("f(a)", ")"), ("x = read_li", " read_li"), ("return ", " "), ("\n", ""),
        ("x = 1\n", ""), ("", ""), ("a -", " -")])
    def test_the_cut_token_is_found(self, model: llama_network.LlamaNetwork, prefix: str,
                                    token: str) -> None:
        assert make_engine(model).vocabulary.partial_token(prefix) == token

    @settings(max_examples=200)
    @given(st.text(alphabet="ab_ (){}[].,:;=-+*/<>!&|\"'\n\t#", max_size=20))
    def test_a_healed_token_ends_the_prefix_and_a_longer_token_extends_it(self, prefix: str) -> None:
        token = ENGINE.vocabulary.partial_token(prefix)
        assert prefix.endswith(token)
        if token and token != vocabulary.partial_word(prefix):  # a punctuation token
            assert not any(c.isalnum() or c in "_\n" for c in token)
            assert sum(t.startswith(token) for t in ENGINE.vocabulary.texts) > 1

    def test_a_cut_punctuation_token_is_completed_not_repeated(
            self, model: llama_network.LlamaNetwork) -> None:
        cut = SOURCE.index("read_lines(path)\n    return") + len("read_lines(")
        [sequence] = run(make_engine(model), [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 8, 0.0)])
        assert sequence.partial == "(" and sequence.generated.decode().startswith("(")
        assert sequence.text and not sequence.text.startswith("(")
        assert sequence.emitted == rules.finish(sequence.text, sequence.context)

    @pytest.mark.parametrize("unmatched", [" read_", "re", " ", "x", "_", "élan", "zzzzqq"])
    def test_the_tokens_agreeing_with_a_typed_word_are_all_found(
            self, model: llama_network.LlamaNetwork, unmatched: str) -> None:
        eng = make_engine(model)
        expected = [i for i, text in enumerate(eng.vocabulary.texts)
                    if text and (text.startswith(unmatched) or unmatched.startswith(text))]
        assert eng.vocabulary._agreeing(unmatched).tolist() == expected

    def test_a_part_typed_word_is_completed_not_repeated(self, model: llama_network.LlamaNetwork) -> None:
        cut = SOURCE.index("read_lines(path)\n    return") + len("read_")
        [sequence] = run(make_engine(model), [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 8, 0.0)])
        generated = sequence.generated.decode()
        assert sequence.partial == " read_" and generated.startswith(" read_")
        # What is shown continues the typed part (the stop rule may cut what was generated after).
        assert generated[len(" read_"):].startswith(sequence.text) and sequence.text
        assert not sequence.text.startswith("read_")
        assert sequence.emitted == rules.finish(sequence.text, sequence.context)

    def test_typing_inside_a_word_reuses_the_whole_prompt(self, model: llama_network.LlamaNetwork) -> None:
        eng = make_engine(model)
        cut = SOURCE.index("lines = read_lines") + len("lines = re")
        [first] = run(eng, [engine.Request(SOURCE[:cut], SOURCE[cut:], "python", 4, 0.0)])
        [second] = run(eng, [engine.Request(SOURCE[:cut + 1], SOURCE[cut:], "python", 4, 0.0)])
        assert second.prompt == first.prompt and second.reused == len(second.prompt) - 1

    def test_every_slot_is_freed(self, model: llama_network.LlamaNetwork) -> None:
        eng = make_engine(model)
        requests = [engine.Request(SOURCE[:n], SOURCE[n:], "python", 8, 0.0) for n in range(100, 420, 40)]
        run(eng, requests)
        assert sorted(eng.batch.free) == list(range(engine.SLOTS * engine.BEAM_WIDTH))


def test_language_table_is_current() -> None:
    assert (MODEL_DIR / "languages.json").read_text() == language_table.table(), (
        "run `python -m training.languages`")
