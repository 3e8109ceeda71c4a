"""The trained network's forward pass in NumPy: the reference that exported files are checked
against (PyTorch's logits in ``train.py``, llama.cpp's GGUF exports in the tests).

Same computation as ``training/network.py`` (pre-norm blocks, learned positions, tied embeddings,
tanh GELU), from the float16 weights the model directory stores: a prompt runs once (``prefill``)
into a :class:`KVCache`, then each further token is one row through the network (``step``).
Serving does not run this (llama.cpp does, ``model/repository/code_fim/1/llama_network.py``): it
is written to be read, one sequence at a time.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

EPSILON = 1e-5
Array = NDArray[Any]


@dataclass(frozen=True, slots=True)
class Layer:
    """One block's weights, matrices as ``[in, out]``."""

    norm1: tuple[Array, Array]
    qkv: tuple[Array, Array]  # [width, 3 * width], bias
    proj: tuple[Array, Array]
    norm2: tuple[Array, Array]
    up: tuple[Array, Array]
    down: tuple[Array, Array]


class KVCache:
    """Keys and values of one sequence's past positions, for every layer."""

    def __init__(self, layers: int, heads: int, context: int, head_width: int) -> None:
        shape = (layers, heads, context, head_width)
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.length = 0


def _norm(x: Array, weights: tuple[Array, Array]) -> Array:
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    out: Array = centered / np.sqrt(variance + EPSILON) * weights[0] + weights[1]
    return out


def _gelu(x: Array) -> Array:
    out: Array = 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    return out


def _softmax_rows(scores: Array) -> Array:
    scores = scores - scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


class Reference:
    """Runs a model directory's ``weights.npz`` (shapes in ``card.json``)."""

    def __init__(self, weights: dict[str, Array], layers: int, heads: int) -> None:
        def get(name: str) -> Array:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self.embed = get("embed.weight")
        self.position = get("position.weight")
        self.vocab, self.width = self.embed.shape
        self.context = self.position.shape[0]
        self.heads = heads
        self.head_width = self.width // heads
        self.scale = 1.0 / float(np.sqrt(self.head_width))
        self.final_norm = (get("norm.weight"), get("norm.bias"))
        self.layers = [Layer(
            norm1=(get(f"blocks.{i}.norm1.weight"), get(f"blocks.{i}.norm1.bias")),
            qkv=(get(f"blocks.{i}.qkv.weight").T, get(f"blocks.{i}.qkv.bias")),
            proj=(get(f"blocks.{i}.proj.weight").T, get(f"blocks.{i}.proj.bias")),
            norm2=(get(f"blocks.{i}.norm2.weight"), get(f"blocks.{i}.norm2.bias")),
            up=(get(f"blocks.{i}.up.weight").T, get(f"blocks.{i}.up.bias")),
            down=(get(f"blocks.{i}.down.weight").T, get(f"blocks.{i}.down.bias")),
        ) for i in range(layers)]

    @classmethod
    def load(cls, directory: Path) -> Reference:
        card = json.loads((directory / "card.json").read_text())
        with np.load(io.BytesIO((directory / "weights.npz").read_bytes())) as data:
            weights = {name: data[name] for name in data.files}
        return cls(weights, card["shape"]["layers"], card["shape"]["heads"])

    def new_cache(self) -> KVCache:
        return KVCache(len(self.layers), self.heads, self.context, self.head_width)

    def prefill(self, ids: list[int], cache: KVCache) -> Array:
        """Runs ``ids`` after the cache's ``length`` positions; the last position's logits."""
        start, count = cache.length, len(ids)
        if start + count > self.context:
            raise ValueError(f"{start + count} positions exceed the model's context of {self.context}")
        x = self.embed[ids] + self.position[start:start + count]
        total = start + count
        mask = np.triu(np.full((count, total), -np.inf, dtype=np.float32), k=start + 1)
        for index, layer in enumerate(self.layers):
            qkv = _norm(x, layer.norm1) @ layer.qkv[0] + layer.qkv[1]
            q, k, v = (qkv[:, i * self.width:(i + 1) * self.width]
                       .reshape(count, self.heads, self.head_width).transpose(1, 0, 2) for i in range(3))
            cache.keys[index, :, start:total] = k
            cache.values[index, :, start:total] = v
            scores = q @ cache.keys[index, :, :total].transpose(0, 2, 1) * self.scale + mask
            attended = _softmax_rows(scores) @ cache.values[index, :, :total]
            x = x + attended.transpose(1, 0, 2).reshape(count, self.width) @ layer.proj[0] + layer.proj[1]
            x = x + _gelu(_norm(x, layer.norm2) @ layer.up[0] + layer.up[1]) @ layer.down[0] + layer.down[1]
        cache.length = total
        last: Array = (_norm(x[-1:], self.final_norm) @ self.embed.T)[0]
        return last

    def step(self, token: int, cache: KVCache) -> Array:
        """One more token; its logits."""
        return self.prefill([token], cache)
