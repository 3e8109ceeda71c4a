"""``python -m training.tokenizer``: trains the byte-level BPE vocabulary on the training split.

The ``tokenizers`` library learns the merges (fast, seeded by nothing: BPE training is
deterministic for a given corpus); the pure encoder in the model directory (``bpe.py``) is what
training, evaluation and serving use, and this command checks the two agree on held-out code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from corpus import files as corpus_files
from training import model_dir

VOCAB_SIZE = 4096
OUT = model_dir.MODEL_DIR / "tokenizer.json"


def train(texts: list[str], vocab_size: int, out: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = model_dir.import_module("bpe")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(bpe.PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(bpe.SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=True)
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out))
    check(tokenizer, bpe.Tokenizer.load(out), corpus_files.load("heldout")[:200])


def check(reference: Any, ours: Any, files: list[corpus_files.SourceFile]) -> None:
    """Fails unless our encoder gives the library's ids on every file (and decodes back)."""
    tokens_total = 0
    for file in files:
        got: list[int] = ours.encode(file.text)
        if reference.encode(file.text).ids != got:
            raise SystemExit(f"tokenizer: bpe.py disagrees with tokenizers on {file.path}")
        if ours.decode(got) != file.text:
            raise SystemExit(f"tokenizer: decoding does not round-trip {file.path}")
        tokens_total += len(got)
    bytes_total = sum(len(f.text.encode()) for f in files)
    print(f"tokenizer: agrees with tokenizers on {len(files)} held-out files; "
          f"{bytes_total / max(1, tokens_total):.2f} bytes per token", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.tokenizer")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    texts = [f.text for f in corpus_files.load("train")]
    train(texts, args.vocab_size, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
