"""Context from other open documents (pure): windows, similarity, imports, rendering, budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from documents import cross_file
from documents.document import Document
from workers.prompt import build_prompt

UTILS = """import json


def load_settings(path):
    with open(path) as handle:
        return json.load(handle)


def save_settings(path, settings):
    with open(path, "w") as handle:
        json.dump(settings, handle)
"""
UNRELATED = "\n".join(f"colour_{i} = mix(red_{i}, blue_{i})" for i in range(60)) + "\n"


class TestChoose:
    def test_the_most_similar_window_is_chosen(self) -> None:
        prefix = "def reload(path):\n    settings = load_settings(path)\n    json.dump(settings, out)\n    "
        chosen = cross_file.choose(prefix, [cross_file.index("file:///p/colours.py", UNRELATED),
                                            cross_file.index("file:///p/utils.py", UTILS)])
        assert [w.uri for w in chosen] == ["file:///p/utils.py"]
        assert "def load_settings(path):" in chosen[0].text

    def test_nothing_similar_gives_nothing(self) -> None:
        prefix = "for item in basket:\n    weigh(item)\n"
        assert cross_file.choose(prefix, [cross_file.index("u.py", UTILS)]) == []

    def test_imported_modules_give_their_signatures_first(self) -> None:
        prefix = "from utils import load_settings\n\nx = 1\n"
        chosen = cross_file.choose(prefix, [cross_file.index("file:///p/utils.py", UTILS)])
        assert chosen[0].text == "def load_settings(path):\ndef save_settings(path, settings):"

    @given(st.lists(st.text(alphabet="abc_ d(\n", max_size=400), max_size=6),
           st.text(alphabet="abc_ d(\n", max_size=300))
    def test_the_budget_holds(self, documents: list[str], prefix: str) -> None:
        neighbours = [cross_file.index(f"f{i}.py", text) for i, text in enumerate(documents)]
        chosen = cross_file.choose(prefix, neighbours, budget=200)
        assert sum(len(w.text) for w in chosen) <= 200

    def test_typing_on_the_line_keeps_the_choice(self) -> None:
        prefix = "settings = load_settings(path)\njson.dump(settings, out)\nva"
        neighbours = [cross_file.index("utils.py", UTILS), cross_file.index("c.py", UNRELATED)]
        assert cross_file.choose(prefix, neighbours) == cross_file.choose(prefix + "lue = lo",
                                                                          neighbours)


class TestRender:
    def test_windows_become_comments_of_the_language(self) -> None:
        windows = [cross_file.Window("file:///p/utils.py", "def f():\n    return 1", frozenset())]
        assert cross_file.render(windows, "//") == "// From utils.py:\n// def f():\n//     return 1\n"

    def test_a_language_without_line_comments_gets_no_context(self) -> None:
        windows = [cross_file.Window("a", "x", frozenset())]
        assert cross_file.render(windows, None) == ""


class TestPrompt:
    def test_the_prompt_carries_the_other_documents_context(self) -> None:
        text = "from utils import load_settings\n\nsettings = load_settings(path)\n"
        doc = Document("file:///p/main.py", "python", 1, text)
        prompt = build_prompt(doc, len(text), 4000, 1000, [cross_file.index("file:///p/utils.py",
                                                                            UTILS)])
        assert prompt.context.startswith("# From utils.py:\n# def load_settings(path):")

    def test_without_other_documents_there_is_no_context(self) -> None:
        doc = Document("file:///p/main.py", "python", 1, "x = 1\n")
        assert build_prompt(doc, 6, 4000, 1000).context == ""


def test_training_opens_other_files_of_the_same_package_and_language() -> None:
    import random

    from corpus.files import SourceFile
    from training.open_files import OpenFiles

    files = [SourceFile("p/main.py", "pkg", "python", "x = 1\n"),
             SourceFile("p/utils.py", "pkg", "python", UTILS),
             SourceFile("p/colours.py", "other", "python", UNRELATED),
             SourceFile("p/utils.js", "pkg", "javascript", "function load_settings(path) {}\n")]
    opened = OpenFiles(files, random.Random(1))
    prefix = "settings = load_settings(path)\njson.dump(settings, handle)\n"
    assert [n.uri for n in opened.neighbours(files[0])] == ["p/utils.py"]
    assert opened.context(files[0], prefix, 3000).startswith("# From utils.py:\n")


def test_a_long_similar_window_is_cut_at_a_line_end_to_fit() -> None:
    long_lines = "\n".join(f"settings = load_settings(path, json, handle, {i})" for i in range(20))
    prefix = "settings = load_settings(path, json, handle)\nx = 1\n"
    chosen = cross_file.choose(prefix, [cross_file.index("long.py", long_lines)], budget=300)
    assert chosen and len(chosen[0].text) <= 300
    assert chosen[0].text == "\n".join(long_lines.split("\n")[:len(chosen[0].text.split("\n"))])


def test_an_import_being_typed_does_not_change_the_context() -> None:
    neighbours = [cross_file.index("file:///p/utils.py", UTILS)]
    assert cross_file.imported("x = 1\nfrom utils imp", neighbours) == []
    assert [n.module for n in cross_file.imported("from utils import x\n", neighbours)] == ["utils"]
