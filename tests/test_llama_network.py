"""code_fim on llama.cpp: its GGUF exports compute what the NumPy reference computes, stored
prompts and branches are llama.cpp sequence copies that give the same logits as running the
prompt again, the engine decodes the same completions over it, and a file that cannot be served
is refused with its name and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))
import bpe  # noqa: E402
import engine  # noqa: E402
import llama_network  # noqa: E402

from tests.test_fim_model import SOURCE, run  # noqa: E402
from training.reference import Reference  # noqa: E402

TOKENIZER = bpe.Tokenizer.load(MODEL_DIR / "tokenizer.json")
IDS = TOKENIZER.encode(SOURCE * 14)[:900]
FILES = ("code_fim.f16.gguf", "code_fim.q8_0.gguf")
#: The same computation through another kernel (a row alone or among others, a prompt in other
#: chunks) rounds float16 activations differently: this far apart at most.
SAME = 0.02


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference.load(MODEL_DIR)


SLOTS: dict[str, llama_network.SequenceBatch] = {}


@pytest.fixture(scope="module", params=FILES)
def network(request: pytest.FixtureRequest) -> llama_network.LlamaNetwork:
    loaded: llama_network.LlamaNetwork = engine.load_network(MODEL_DIR, request.param)
    SLOTS[request.param] = loaded.new_batch(4, 2)
    return loaded


def _slots(net: llama_network.LlamaNetwork) -> llama_network.SequenceBatch:
    return SLOTS[net.path.name]


def test_the_exports_compute_the_reference_networks_logits(
        network: llama_network.LlamaNetwork, reference: Reference) -> None:
    tolerance = 0.1 if "f16" in network.path.name else 1.0  # float16 activations; 8-bit weights
    batch = _slots(network)
    cache, theirs_cache = batch.take(), reference.new_cache()
    ours, theirs = network.prefill(IDS, cache), reference.prefill(IDS, theirs_cache)
    assert ours.shape == theirs.shape == (4096,)
    assert np.abs(ours - theirs).max() < tolerance
    assert ours.argmax() == theirs.argmax()
    for token in (42, 7, 1000):
        step, expected = network.step([token], [cache])[0], reference.step(token, theirs_cache)
        assert np.abs(step - expected).max() < tolerance
        assert step.argmax() == expected.argmax()
    assert cache.length == len(IDS) + 3
    batch.give(cache)


def test_a_stored_prompt_and_a_branch_give_what_running_it_again_gives(
        network: llama_network.LlamaNetwork) -> None:
    batch = _slots(network)
    first, second = batch.take(), batch.take()
    whole = network.prefill(IDS[:600], first)
    stored = network.keep(first, 500)
    assert stored is not None and stored.length == 500
    second.copy_from(stored, 500)  # a later prompt sharing 500 tokens runs only the rest
    assert np.abs(network.prefill(IDS[500:600], second) - whole).max() < SAME
    # Branches of a search: each a copy of its parent, then its own token.
    after = network.step([11, 12], [first, second])
    assert np.abs(after[0] - after[1]).max() > 0.1  # different tokens, different futures
    third = batch.take()
    third.copy_from(first, first.length)
    assert np.abs(network.step([13], [third])[0] - network.step([13], [first])[0]).max() < SAME
    network.forget(stored)
    for cache in (first, second, third):
        batch.give(cache)


def test_a_step_for_several_sequences_equals_each_alone(network: llama_network.LlamaNetwork) -> None:
    batch = _slots(network)
    caches = [batch.take() for _ in range(3)]
    for i, cache in enumerate(caches):
        network.prefill(IDS[i * 50:i * 50 + 200 + 30 * i], cache)
    together = network.step([5, 6, 7], caches)
    for i, cache in enumerate(caches):
        network.rewind(cache, cache.length - 1)
        alone = network.step([5 + i], [cache])[0]
        assert np.abs(alone - together[i]).max() < SAME
        assert alone.argmax() == together[i].argmax()
    for cache in caches:
        batch.give(cache)


def test_the_quantized_export_mostly_decodes_the_same_completions() -> None:
    languages = engine.load_languages(MODEL_DIR / "languages.json")
    exact, quantized = (engine.Engine(engine.load_network(MODEL_DIR, name), TOKENIZER, languages)
                        for name in FILES)
    lines = SOURCE.splitlines(keepends=True)
    requests = [engine.Request("".join(lines[:n]) + cut, "".join(lines[n + 1:]), "python", 24, 0.0)
                for n in range(2, len(lines) - 1) for cut in ("", "    ")]
    expected = [s.text for i in range(0, len(requests), 4) for s in run(exact, requests[i:i + 4])]
    got = [s.text for i in range(0, len(requests), 4) for s in run(quantized, requests[i:i + 4])]
    # 8-bit weights move near ties; the held-out evaluation measures what that costs.
    same = sum(a == b for a, b in zip(expected, got, strict=True))
    assert same >= 0.75 * len(requests), list(zip(expected, got, strict=True))
    # Typing on: the stored prompt's states are reused, and the completion does not change.
    again = run(quantized, requests[-4:])
    assert [s.text for s in again] == got[-4:] and all(s.reused > 0 for s in again)


def test_a_file_that_cannot_be_served_is_refused_with_its_name_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    with pytest.raises(llama_network.LoadError, match=r"absent\.gguf: no such GGUF file"):
        llama_network.LlamaNetwork(missing)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(llama_network.LoadError, match=r"notes\.gguf: not a GGUF file"):
        llama_network.LlamaNetwork(text)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes((MODEL_DIR / FILES[0]).read_bytes()[:100_000])
    with pytest.raises(llama_network.LoadError, match=r"cut\.gguf: llama\.cpp could not load it"):
        llama_network.LlamaNetwork(truncated)


def test_an_export_of_other_weights_is_refused(tmp_path: Path) -> None:
    for name in ("card.json", "tokenizer.json", FILES[0]):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    with np.load(MODEL_DIR / "weights.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["norm.bias"] = arrays["norm.bias"] + np.float16(0.5)
    np.savez_compressed(tmp_path / "weights.npz", **arrays)
    with pytest.raises(llama_network.LoadError, match="exported from other weights"):
        engine.load_network(tmp_path, FILES[0])
