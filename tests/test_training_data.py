"""What training reads: the corpus as a pack that travels to an accelerator, and batches cut in
other processes that do not depend on how many."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from corpus import files as corpus_files
from training import train

CODE = '''def area(width, height):
    """The area of a rectangle."""
    return width * height


def perimeter(width, height):
    total = 2 * (width + height)
    return total


class Box:
    def __init__(self, size):
        self.size = size

    def volume(self):
        return self.size ** 3
'''


def _manifest(tmp_path: Path) -> Path:
    entries = []
    for number, (split, package) in enumerate([("train", "a"), ("train", "a"), ("heldout", "b")]):
        path = tmp_path / f"file{number}.py"
        path.write_text(CODE.replace("area", f"area{number}"))
        entries.append({"split": split, "path": str(path), "package": package, "language": "python"})
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return manifest


def test_a_pack_holds_what_the_manifest_gives_and_its_digest(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    pack = tmp_path / "corpus.jsonl.xz"
    assert corpus_files.pack(pack, manifest) == 3
    for split in ("train", "heldout"):
        assert corpus_files.load(split, pack) == corpus_files.load(split, manifest)
    for path in tmp_path.glob("file*.py"):
        path.unlink()  # the pack must not need the files any more
    loaded = {split: corpus_files.load(split, pack) for split in ("train", "heldout")}
    assert [f.path.endswith(("file0.py", "file1.py")) for f in loaded["train"]] == [True, True]
    assert [f.package for f in loaded["heldout"]] == ["b"]
    assert "def area2(" in loaded["heldout"][0].text
    assert corpus_files.manifest_digest(pack) == hashlib.sha256(manifest.read_bytes()).hexdigest()


def test_a_pack_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"jsonl\.xz"):
        corpus_files.pack(tmp_path / "corpus.json", _manifest(tmp_path))


def test_batches_cut_in_other_processes_do_not_depend_on_how_many(tmp_path: Path) -> None:
    files = corpus_files.load("train", _manifest(tmp_path))
    examples = train.Examples(files, 5, 256)
    taken = []
    for workers in (1, 2):
        pool = train.cutters(examples, 3, 5, workers)
        assert pool is not None
        feed = train.batches(examples, 3, pool, 2 * workers)
        taken.append([next(feed) for _ in range(4)])
        feed.close()
        pool.terminate()
    for (inputs_1, targets_1), (inputs_2, targets_2) in zip(*taken, strict=True):
        assert inputs_1.tolist() == inputs_2.tolist() and targets_1.tolist() == targets_2.tolist()
    assert len({str(inputs.tolist()) for inputs, _ in taken[0]}) == 4  # each batch its own seed
    assert train.cutters(examples, 3, 5, 0) is None


@pytest.mark.parametrize("warmup", [0, 10])
def test_the_schedule_follows_steps_or_the_time_spent(warmup: int) -> None:
    budget = train.Budget(steps=100, warmup=warmup)
    if warmup:
        assert train.rate_share(0, budget) == pytest.approx(0.1)
        assert train.rate_share(9, budget) == pytest.approx(1.0)
    assert train.rate_share(warmup, budget) == pytest.approx(1.0)
    assert train.rate_share(99, budget) == pytest.approx(0.1, abs=1e-3)
    # by time, whatever the step: the peak at the start, 55 % halfway, 10 % at (and past) the end
    assert train.rate_share(50, budget, 0.0) == pytest.approx(1.0)
    assert train.rate_share(50, budget, 0.5) == pytest.approx(0.55)
    assert train.rate_share(50, budget, 1.0) == train.rate_share(5000, budget, 3.0) == pytest.approx(0.1)
