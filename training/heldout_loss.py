"""``python -m training.heldout_loss DIR...``: held-out loss of model directories, compared.

Training's checkpoint estimates draw new batches each time (4 of them, 16 at the end), so two runs'
figures differ by the batches as much as by the weights. This scores every directory on the same
batches (one seed), so a continued run can be judged against the committed weights before it
replaces them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from corpus import files as corpus_files
from training import network, train


def heldout_loss(directory: Path, batches: int, batch: int, seed: int) -> float:
    """Nats per token of ``directory``'s weights on ``batches`` held-out batches drawn by ``seed``."""
    import torch

    torch.manual_seed(seed)
    shape = network.shape_of(directory)
    examples = train.Examples(corpus_files.load("heldout"), seed, shape.context)
    model = network.build_model(shape)
    network.resume(model, directory)
    return train.evaluate_loss(model, examples, batches, batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.heldout_loss")
    parser.add_argument("directories", type=Path, nargs="+",
                        help="model directories (weights.npz and card.json), e.g. the committed one "
                             "and .stack/train-run")
    parser.add_argument("--batches", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    for directory in args.directories:
        loss = heldout_loss(directory, args.batches, args.batch, args.seed)
        print(f"{directory}: held-out {loss:.4f} nats/token ({args.batches} x {args.batch} examples, "
              f"seed {args.seed})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
