"""Any GGUF model on the completion route: a tiny llama-shaped model the tests make (random
weights, StarCoder-named FIM tokens) is tokenized by its own vocabulary, prompted in its FIM form
from its file's tokens or a configured template, decoded by the same engine, and refused clearly
when it cannot be served. Quality is not claimed for it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import tiny_gguf
from tests.test_fim_model import MODEL_DIR, SOURCE, run

if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))
import engine
import gguf_tokenizer
import llama_network


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gguf.write(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="module")
def brought(tiny: Path) -> engine.Engine:
    return engine.Engine.load(MODEL_DIR, str(tiny))


def test_it_keeps_its_own_tokenizer_and_its_files_fim_tokens(brought: engine.Engine) -> None:
    tokenizer = brought.tokenizer
    assert isinstance(tokenizer, gguf_tokenizer.GgufTokenizer)
    assert brought.fim == gguf_tokenizer.FimMarkers((1,), (2,), (3,))
    for text in (SOURCE, "naïve = 'é'\n\tx", ""):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    # A marker typed in the code is text, never the control token.
    assert not set(tokenizer.encode("<fim_middle><|endoftext|>")) & {0, 1, 2, 3}
    assert tokenizer.encode("<fim_middle>", special=True) == [3]


def test_the_prompt_is_prefix_suffix_middle_without_a_language(brought: engine.Engine) -> None:
    lines = SOURCE.splitlines(keepends=True)
    prefix, suffix = "".join(lines[:8]) + "    ", "".join(lines[9:])
    prompt = brought.prepare(engine.Request(prefix, suffix, "python", 16, 0.0)).prompt
    assert prompt[0] == 1 and prompt[-1] == 3 and prompt.count(2) == 1
    middle = prompt.index(2)
    assert brought.tokenizer.decode(prompt[middle + 1:-1]) == suffix
    assert brought.tokenizer.decode(prompt[1:middle]) == prefix


def test_a_long_file_is_cut_to_the_window_never_an_engine_error(brought: engine.Engine) -> None:
    prefix = SOURCE * 200
    prepared = brought.prepare(engine.Request(prefix, SOURCE * 50, "python", 16, 0.0))
    assert len(prepared.prompt) <= brought.window - 64
    [sequence] = run(brought, [engine.Request(prefix, SOURCE * 50, "python", 16, 0.0)])
    assert sequence.done


def test_the_engine_decodes_it_like_code_fim(brought: engine.Engine) -> None:
    lines = SOURCE.splitlines(keepends=True)
    requests = [engine.Request("".join(lines[:n]) + "    ", "".join(lines[n + 1:]), "python", 12, 0.0)
                for n in (3, 8, 12)]
    sequences = run(brought, requests)
    for sequence in sequences:
        assert sequence.done and sequence.reason in {"eot", "line", "length", "rule", "loop", "unsure"}
        assert "<fim" not in sequence.text and "<|endoftext|>" not in sequence.text
    again = run(brought, requests)  # typed on: the stored prompts' states are reused
    assert [s.text for s in again] == [s.text for s in sequences]
    assert all(s.reused > 0 for s in again)


def test_without_fim_tokens_a_template_is_needed(tmp_path: Path) -> None:
    plain = tiny_gguf.write(tmp_path / "plain.gguf", tiny_gguf.PLAIN_SPECIALS)
    with pytest.raises(llama_network.LoadError, match=r"plain\.gguf: .*FIM_TEMPLATE"):
        engine.Engine.load(MODEL_DIR, str(plain))
    templated = engine.Engine.load(MODEL_DIR, str(plain),
                                   fim_template="<reserved_1>{prefix}<reserved_2>{suffix}<reserved_3>")
    assert templated.fim == gguf_tokenizer.FimMarkers((1,), (2,), (3,))
    with pytest.raises(llama_network.LoadError, match=r"must hold \{prefix\} then \{suffix\}"):
        engine.Engine.load(MODEL_DIR, str(plain), fim_template="{suffix}<x>{prefix}")


def test_an_architecture_llama_cpp_does_not_know_is_refused(tmp_path: Path) -> None:
    odd = tiny_gguf.write(tmp_path / "odd.gguf", architecture="no-such-architecture")
    with pytest.raises(llama_network.LoadError, match=r"odd\.gguf: llama\.cpp could not load it"):
        engine.Engine.load(MODEL_DIR, str(odd))


def test_a_stack_given_a_missing_model_file_says_which_component_failed_and_why(tmp_path: Path) -> None:
    """A real tritonserver asked to serve a GGUF file that is not there: its start fails, and
    the error names Triton, the file and the fix."""
    import shutil

    from bench.model import configure
    from infra.processes import ComponentError, Supervisor
    from infra.stack import private_settings, triton_spec

    repository = tmp_path / "repository"
    shutil.copytree(MODEL_DIR.parent, repository / "code_fim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    configure(repository / "code_fim", {"NETWORK": str(tmp_path / "absent.gguf")})
    settings = private_settings("brought-missing").replace(triton_model_repository=repository)
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    try:
        with pytest.raises(ComponentError) as caught:
            supervisor.start(triton_spec(settings), 120)
    finally:
        supervisor.stop_all()
    assert caught.value.component == "triton"
    assert "absent.gguf: no such GGUF file" in str(caught.value)
    assert "COMPLETION_MODEL" in str(caught.value)


def test_every_token_that_ends_generation_is_the_end_and_no_other_control_token_is_text(
        brought: engine.Engine) -> None:
    import numpy as np

    tokenizer = brought.tokenizer
    assert isinstance(tokenizer, gguf_tokenizer.GgufTokenizer)
    vocabulary = brought.vocabulary
    assert tokenizer.ends[0] == vocabulary.eot == 0
    assert set(tokenizer.controls) == {0, 1, 2, 3, 4, 5}
    logits = np.zeros(brought.transformer.vocab, dtype=np.float32)
    logits[list(tokenizer.ends)] = 5.0
    probabilities = vocabulary.network_distribution(logits)
    assert probabilities[list(tokenizer.ends[1:])].sum() == 0.0  # counted as the end's
    assert probabilities[0] == probabilities.max()
    assert probabilities.sum() == pytest.approx(1.0)
    banned = set(tokenizer.controls) - set(tokenizer.ends)
    assert all(probabilities[i] == 0.0 for i in banned)
    assert all(vocabulary.texts[i] == "" for i in tokenizer.controls)


def test_a_template_too_long_for_the_window_is_refused(tiny: Path) -> None:
    with pytest.raises(llama_network.LoadError, match="tokens of markers"):
        engine.Engine.load(MODEL_DIR, str(tiny), fim_template="<fim_prefix>" * 40 + "{prefix}{suffix}")


def test_a_context_that_would_not_fit_in_memory_is_refused_before_it_is_made(tiny: Path) -> None:
    network = llama_network.LlamaNetwork(tiny)
    with pytest.raises(llama_network.LoadError, match="more than half of the"):
        network.new_batch(200_000)
    network.close()


def test_the_workers_revision_changes_with_a_brought_file_named_in_the_config(tmp_path: Path) -> None:
    import shutil

    from bench.model import configure
    from workers.process import embedded_revision

    directory = tmp_path / "code_fim"
    shutil.copytree(MODEL_DIR.parent, directory, ignore=shutil.ignore_patterns("__pycache__", "*.gguf"))
    model = tiny_gguf.write(tmp_path / "model.gguf")
    configure(directory, {"NETWORK": str(model)})
    before = embedded_revision(directory, "", "")
    assert embedded_revision(directory, "", "") == before
    tiny_gguf.write(model, seed=1)  # another model under the same name
    assert embedded_revision(directory, "", "") != before
