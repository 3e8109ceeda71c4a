"""Exports the model's network to ONNX: a prompt graph (ids [1, T] -> last logits and the keys and
values of every layer), run by ONNX Runtime for cold prompts in serving, and a one-token step graph
over a cache of past keys and values, for the runtime benchmark. Same computation as
``transformer.py``. The prompt graph records the SHA-256 of the weights it came from; serving
ignores a graph that does not match ``weights.npz``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PROMPT_FILE = "prompt.onnx"


def weights_digest(directory: Path) -> str:
    return hashlib.sha256((directory / "weights.npz").read_bytes()).hexdigest()


def cached_module(directory: Path) -> tuple[Any, Any]:
    """The network with an explicit cache: ``prompt`` graphs take ids [1, T] and return the last
    logits and the keys/values [layers, 1, heads, T, head]; step graphs take ids [B, 1], the past
    [layers, B, heads, P, head] and return logits [B, vocab] and the past grown by one."""
    import torch
    from torch import nn
    from torch.nn import functional

    from training import network

    card = json.loads((directory / "card.json").read_text())
    shape = network.Shape(**card["shape"])
    base = network.build_model(shape)
    network.resume(base, directory)
    base.eval()
    heads, width = shape.heads, shape.width
    head = width // heads

    class Cached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def _attend(self, block: Any, x: torch.Tensor, past_k: torch.Tensor | None,
                    past_v: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            batch, length, _ = x.shape
            q, k, v = block.qkv(block.norm1(x)).split(width, dim=2)
            q, k, v = (t.reshape(batch, length, heads, head).transpose(1, 2) for t in (q, k, v))
            if past_k is not None and past_v is not None:
                k = torch.cat([past_k, k], dim=2)
                v = torch.cat([past_v, v], dim=2)
                attended = functional.scaled_dot_product_attention(q, k, v)
            else:
                attended = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + block.proj(attended.transpose(1, 2).reshape(batch, length, width))
            x = x + block.down(functional.gelu(block.up(block.norm2(x)), approximate="tanh"))
            return x, k, v

        def forward(self, ids: torch.Tensor, past_k: torch.Tensor | None = None,
                    past_v: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            start = 0 if past_k is None else past_k.shape[3]
            positions = torch.arange(ids.shape[1]) + start
            x = self.base.embed(ids) + self.base.position(positions)
            keys, values = [], []
            for index, block in enumerate(self.base.blocks):
                x, k, v = self._attend(block, x, None if past_k is None else past_k[index],
                                       None if past_v is None else past_v[index])
                keys.append(k)
                values.append(v)
            logits = self.base.norm(x[:, -1]) @ self.base.embed.weight.T
            return logits, torch.stack(keys), torch.stack(values)

    return Cached(), shape


def export(directory: Path, out: Path) -> tuple[Path, Path]:
    """The prompt and step graphs of ``directory``'s weights as float32 ONNX files in ``out``."""
    import onnx
    import torch

    module, shape = cached_module(directory)
    head = shape.width // shape.heads
    prompt_path, step_path = out / PROMPT_FILE, out / "step.onnx"
    ids = torch.zeros((1, 16), dtype=torch.int64)
    torch.onnx.export(module, (ids,), prompt_path, input_names=["ids"],
                      output_names=["logits", "keys", "values"], dynamo=False,
                      dynamic_axes={"ids": {1: "length"}, "keys": {3: "length"},
                                    "values": {3: "length"}})
    past = torch.zeros((shape.layers, 2, shape.heads, 16, head))
    torch.onnx.export(module, (torch.zeros((2, 1), dtype=torch.int64), past, past), step_path,
                      input_names=["ids", "past_keys", "past_values"],
                      output_names=["logits", "keys", "values"], dynamo=False,
                      dynamic_axes={"ids": {0: "batch"},
                                    "past_keys": {1: "batch", 3: "past"},
                                    "past_values": {1: "batch", 3: "past"},
                                    "logits": {0: "batch"}, "keys": {1: "batch", 3: "total"},
                                    "values": {1: "batch", 3: "total"}})
    graph = onnx.load(str(prompt_path))
    onnx.helper.set_model_props(graph, {"weights_sha256": weights_digest(directory)})
    onnx.save(graph, str(prompt_path))
    return prompt_path, step_path


def stored_in_half(graph: Any) -> int:
    """Stores each float32 weight of ``graph`` whose values float16 holds exactly (all of them:
    they come from the float16 ``weights.npz``) as float16, cast back by a node that ONNX Runtime
    folds into a constant when it loads the graph: half the file, the same numbers. Returns how
    many weights it changed."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    changed = 0
    for initializer in list(graph.graph.initializer):
        if initializer.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        half = values.astype(np.float16)
        if values.size < 256 or not np.array_equal(half.astype(np.float32), values):
            continue
        stored = numpy_helper.from_array(half, f"{initializer.name}.float16")
        graph.graph.initializer.remove(initializer)
        graph.graph.initializer.append(stored)
        graph.graph.node.insert(0, onnx.helper.make_node(
            "Cast", [stored.name], [initializer.name], to=onnx.TensorProto.FLOAT))
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m training.onnx_export [MODEL_DIR]``: writes ``prompt.onnx`` beside the
    weights (the committed model's by default), its weights stored in float16."""
    import sys
    import tempfile

    import onnx

    from training import model_dir

    directory = Path(argv[0]) if argv else model_dir.MODEL_DIR
    with tempfile.TemporaryDirectory() as scratch:
        prompt, _ = export(directory, Path(scratch))
        graph = onnx.load(str(prompt))
        halved = stored_in_half(graph)
        onnx.save(graph, str(directory / PROMPT_FILE))
    size = (directory / PROMPT_FILE).stat().st_size
    print(f"{directory / PROMPT_FILE}: {size / 1e6:.1f} MB ({halved} weights stored in float16)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
