"""The trained transformer's forward pass in NumPy, with a cache of past keys and values.

Same computation as ``training/train.py``'s model (pre-norm blocks, learned positions,
tied embeddings, tanh GELU), written for serving: a prompt is run once (``prefill``) into a
:class:`KVCache`, then each new token costs one row through the network (``step``), whatever the
prompt's length, and the rows of many sequences go through the matrix products together.

A cold prompt (nothing cached) of ``RUNTIME_MIN_TOKENS`` or more runs in ONNX Runtime when the
model directory holds ``prompt.onnx`` exported from these very weights and ``onnxruntime`` is
installed: its fused attention runs a 1,000-token prompt several times faster than NumPy here
(``python -m bench.runtime``). Decoding steps stay in NumPy, which writes each new key and value
in place (faster at this size than a graph that copies the cache). ``CODE_FIM_RUNTIME=numpy``
turns the compiled path off.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

EPSILON = 1e-5
RUNTIME_MIN_TOKENS = 64
#: With the compiled prompt graph, a remainder this long runs the whole prompt there instead
#: (ONNX Runtime's full prompt costs less than NumPy's remainder from about here).
COMPILED_REMAINDER = 256
PROMPT_GRAPH = "prompt.onnx"


@dataclass(frozen=True, slots=True)
class Layer:
    """One block's weights, each matrix twice: ``[in, out]`` for rows of activations (prompts)
    and ``[out, in]`` for columns (a decoding step of a few sequences, where BLAS runs the
    narrow product about twice as fast that way round)."""

    norm1: tuple[NDArray[Any], NDArray[Any]]
    qkv: tuple[NDArray[Any], NDArray[Any]]  # [width, 3 * width], bias
    proj: tuple[NDArray[Any], NDArray[Any]]
    norm2: tuple[NDArray[Any], NDArray[Any]]
    up: tuple[NDArray[Any], NDArray[Any]]
    down: tuple[NDArray[Any], NDArray[Any]]
    columns: tuple[NDArray[Any], ...]  # qkv, proj, up, down as [out, in]; biases as [out, 1]


class KVCache:
    """Keys and values of one sequence's past positions, for every layer: its own arrays, or a
    slot of a :class:`Batch` (views into the batch's arrays)."""

    def __init__(self, keys: NDArray[Any], values: NDArray[Any], slot: int = -1) -> None:
        self.keys = keys  # [layers, heads, context, head_width]
        self.values = values
        self.slot = slot
        self.length = 0

    def copy_from(self, other: KVCache, length: int, start: int = 0) -> None:
        """Takes ``other``'s first ``length`` positions (those from ``start`` on: the ones
        before are already the same)."""
        self.keys[:, :, start:length] = other.keys[:, :, start:length]
        self.values[:, :, start:length] = other.values[:, :, start:length]
        self.length = length


class Batch:
    """The caches of the sequences being generated, side by side in one array per kind, so one
    decoding step attends for all of them with a few array operations (no per-sequence loop)."""

    def __init__(self, slots: int, layers: int, heads: int, context: int, head_width: int) -> None:
        shape = (slots, layers, heads, context, head_width)
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.caches = [KVCache(self.keys[i], self.values[i], i) for i in range(slots)]
        self.free = list(range(slots))

    def take(self) -> KVCache:
        """The lowest free slot (so few sequences stay in the first rows)."""
        if not self.free:
            raise RuntimeError("no free generation slot")
        self.free.sort()
        cache = self.caches[self.free.pop(0)]
        cache.length = 0
        return cache

    def give(self, cache: KVCache) -> None:
        if cache.slot in self.free:
            raise RuntimeError(f"generation slot {cache.slot} freed twice")
        self.free.append(cache.slot)


def _norm(x: NDArray[Any], weights: tuple[NDArray[Any], NDArray[Any]]) -> NDArray[Any]:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    out: NDArray[Any] = centered / np.sqrt(variance + EPSILON) * weights[0] + weights[1]
    return out


def _gelu(x: NDArray[Any]) -> NDArray[Any]:
    out: NDArray[Any] = 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    return out


def _norm_columns(x: NDArray[Any], weights: tuple[NDArray[Any], NDArray[Any]]) -> NDArray[Any]:
    """Layer norm of each column of ``x`` ([width, rows])."""
    centered = x - x.mean(axis=0, keepdims=True)
    variance = (centered * centered).mean(axis=0, keepdims=True)
    out: NDArray[Any] = centered / np.sqrt(variance + EPSILON) * weights[0][:, None] + weights[1][:, None]
    return out


def _softmax_rows(scores: NDArray[Any]) -> NDArray[Any]:
    scores = scores - scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


class Transformer:
    """Runs the exported weights (``weights.npz``, shapes in ``card.json``)."""

    def __init__(self, weights: dict[str, NDArray[Any]], layers: int, heads: int) -> None:
        def get(name: str) -> NDArray[Any]:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self.embed = get("embed.weight")
        self.unembed = np.ascontiguousarray(self.embed.T)
        self.position = get("position.weight")
        self.vocab, self.width = self.embed.shape
        self.context = self.position.shape[0]
        self.heads = heads
        self.head_width = self.width // heads
        self.scale = 1.0 / float(np.sqrt(self.head_width))
        self.final_norm = (get("norm.weight"), get("norm.bias"))
        self.layers = []
        for i in range(layers):
            p = f"blocks.{i}."
            self.layers.append(Layer(
                norm1=(get(p + "norm1.weight"), get(p + "norm1.bias")),
                qkv=(np.ascontiguousarray(get(p + "qkv.weight").T), get(p + "qkv.bias")),
                proj=(np.ascontiguousarray(get(p + "proj.weight").T), get(p + "proj.bias")),
                norm2=(get(p + "norm2.weight"), get(p + "norm2.bias")),
                up=(np.ascontiguousarray(get(p + "up.weight").T), get(p + "up.bias")),
                down=(np.ascontiguousarray(get(p + "down.weight").T), get(p + "down.bias")),
                columns=tuple(array for name in ("qkv", "proj", "up", "down") for array in
                              (get(p + name + ".weight"), get(p + name + ".bias")[:, None])),
            ))
        #: ONNX Runtime session for cold prompts (``None``: NumPy only).
        self.prompt_session: Any = None
        #: Why the compiled prompt path is off (empty when it is on).
        self.runtime_note = "not loaded"

    @classmethod
    def load(cls, directory: Path, runtime: str | None = None) -> Transformer:
        """The weights of ``directory``; ``runtime`` "numpy" or "auto" (default: the
        ``CODE_FIM_RUNTIME`` variable, else "auto": ONNX Runtime for cold prompts if it can)."""
        card = json.loads((directory / "card.json").read_text())
        raw = (directory / "weights.npz").read_bytes()  # read once: hashed and loaded
        with np.load(io.BytesIO(raw)) as data:
            weights = {name: data[name] for name in data.files}
        model = cls(weights, card["shape"]["layers"], card["shape"]["heads"])
        if (runtime or os.environ.get("CODE_FIM_RUNTIME", "auto")) == "numpy":
            model.runtime_note = "turned off (CODE_FIM_RUNTIME=numpy)"
        else:
            model.use_prompt_graph(directory / PROMPT_GRAPH, hashlib.sha256(raw).hexdigest())
        return model

    def use_prompt_graph(self, path: Path, weights_sha256: str) -> None:
        """Runs cold prompts through ``path`` if it was exported from these weights."""
        if not path.exists():
            self.runtime_note = f"no {path.name}"
            return
        try:
            import onnxruntime
        except ImportError:
            self.runtime_note = "onnxruntime is not installed"
            return
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one core per model instance, like NumPy's BLAS
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
        made_from = session.get_modelmeta().custom_metadata_map.get("weights_sha256", "")
        if made_from != weights_sha256:
            self.runtime_note = f"{path.name} was exported from other weights"
            return
        self.prompt_session = session
        self.runtime_note = ""

    def describe(self) -> str:
        """What runs, for the model's log line."""
        runtime = "onnxruntime" if self.prompt_session is not None else f"numpy ({self.runtime_note})"
        return f"{self.width}x{len(self.layers)} NumPy transformer, cold prompts in {runtime}"

    def new_cache(self) -> KVCache:
        shape = (len(self.layers), self.heads, self.context, self.head_width)
        return KVCache(np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32))

    def new_batch(self, slots: int, kept: int = 0) -> Batch:
        """The generation slots (``kept``, the stored prompts, are arrays of their own here)."""
        return Batch(slots, len(self.layers), self.heads, self.context, self.head_width)

    def keep(self, source: KVCache, length: int) -> KVCache:
        """A copy of ``source``'s first ``length`` positions, exactly that long."""
        entry = KVCache(source.keys[:, :, :length].copy(), source.values[:, :, :length].copy())
        entry.length = length
        return entry

    def forget(self, entry: KVCache) -> None:
        """A stored copy is dropped (its arrays go with it)."""

    def rewind(self, cache: KVCache, length: int) -> None:
        """Forgets ``cache``'s positions from ``length`` on."""
        cache.length = min(cache.length, length)

    def worth_reusing(self, remainder: int) -> bool:
        """Whether running only the ``remainder`` after a stored prompt beats running the whole
        prompt: with the compiled graph, a long remainder runs faster whole there."""
        return self.prompt_session is None or remainder < COMPILED_REMAINDER

    def prefill(self, ids: list[int], cache: KVCache) -> NDArray[Any]:
        """Runs ``ids`` after the cache's ``length`` positions; returns the last position's logits."""
        start = cache.length
        count = len(ids)
        if start + count > self.context:
            raise ValueError(f"{start + count} positions exceed the model's context of {self.context}")
        if start == 0 and count >= RUNTIME_MIN_TOKENS and self.prompt_session is not None:
            logits, keys, values = self.prompt_session.run(
                None, {"ids": np.asarray([ids], dtype=np.int64)})
            cache.keys[:, :, :count] = keys[:, 0]
            cache.values[:, :, :count] = values[:, 0]
            cache.length = count
            compiled: NDArray[Any] = logits[0]
            return compiled
        x = self.embed[ids] + self.position[start:start + count]
        heads, head_width = self.heads, self.head_width
        total = start + count
        # Causal mask for the new rows against all positions so far.
        mask = np.triu(np.full((count, total), -np.inf, dtype=np.float32), k=start + 1)
        for index, layer in enumerate(self.layers):
            qkv = _norm(x, layer.norm1) @ layer.qkv[0] + layer.qkv[1]
            q, k, v = (qkv[:, i * self.width:(i + 1) * self.width].reshape(count, heads, head_width)
                       .transpose(1, 0, 2) for i in range(3))
            cache.keys[index, :, start:total] = k
            cache.values[index, :, start:total] = v
            scores = q @ cache.keys[index, :, :total].transpose(0, 2, 1) * self.scale + mask
            attended = _softmax_rows(scores) @ cache.values[index, :, :total]
            x = x + attended.transpose(1, 0, 2).reshape(count, self.width) @ layer.proj[0] + layer.proj[1]
            x = x + _gelu(_norm(x, layer.norm2) @ layer.up[0] + layer.up[1]) @ layer.down[0] + layer.down[1]
        cache.length = total
        last: NDArray[Any] = (_norm(x[-1:], self.final_norm) @ self.unembed)[0]
        return last

    def step(self, tokens: list[int], caches: list[KVCache], batch: Batch | None = None) -> NDArray[Any]:
        """One new token for each of several sequences at once; returns logits [len(tokens), vocab].

        With ``batch`` (every cache one of its slots) and several sequences, attention runs over
        the batch's first rows at once; otherwise sequence by sequence (for one, that is faster)."""
        for cache in caches:
            if cache.length >= self.context:
                raise ValueError(f"a sequence reached the model's context of {self.context}")
        if batch is not None and len(caches) > 1 and all(c.slot >= 0 for c in caches):
            return self._step_batched(tokens, caches, batch)
        rows = len(tokens)
        positions = [cache.length for cache in caches]
        x = self.embed[tokens] + self.position[positions]
        heads, head_width = self.heads, self.head_width
        for index, layer in enumerate(self.layers):
            qkv = _norm(x, layer.norm1) @ layer.qkv[0] + layer.qkv[1]
            q = qkv[:, :self.width].reshape(rows, heads, head_width)
            k = qkv[:, self.width:2 * self.width].reshape(rows, heads, head_width)
            v = qkv[:, 2 * self.width:].reshape(rows, heads, head_width)
            attended = np.empty((rows, heads, head_width), dtype=np.float32)
            for row, cache in enumerate(caches):
                at = positions[row]
                cache.keys[index, :, at] = k[row]
                cache.values[index, :, at] = v[row]
                scores = (cache.keys[index, :, :at + 1] @ q[row][:, :, None])[:, :, 0] * self.scale
                attended[row] = (_softmax_rows(scores)[:, None, :] @ cache.values[index, :, :at + 1])[:, 0]
            x = x + attended.reshape(rows, self.width) @ layer.proj[0] + layer.proj[1]
            x = x + _gelu(_norm(x, layer.norm2) @ layer.up[0] + layer.up[1]) @ layer.down[0] + layer.down[1]
        for cache in caches:
            cache.length += 1
        logits: NDArray[Any] = _norm(x, self.final_norm) @ self.unembed
        return logits

    def _step_batched(self, tokens: list[int], caches: list[KVCache], batch: Batch) -> NDArray[Any]:
        # Rows are slots 0..top-1; slots without a token this step compute a dummy column that
        # writes nothing. Activations are columns: x is [width, top].
        top = max(c.slot for c in caches) + 1
        slot_tokens = [0] * top
        lengths = np.zeros(top, dtype=np.int64)
        for token, cache in zip(tokens, caches, strict=True):
            slot_tokens[cache.slot] = token
            lengths[cache.slot] = cache.length
        span = int(lengths.max()) + 1
        x = np.ascontiguousarray((self.embed[slot_tokens] + self.position[lengths]).T)
        heads, head_width, width = self.heads, self.head_width, self.width
        real = np.array([c.slot for c in caches])
        real_lengths = lengths[real]
        # Positions after each row's own length are masked out.
        mask = np.where(np.arange(span)[None, :] <= lengths[:, None], 0.0, -np.inf).astype(np.float32)
        for index, layer in enumerate(self.layers):
            qkv_w, qkv_b, proj_w, proj_b, up_w, up_b, down_w, down_b = layer.columns
            qkv = (qkv_w @ _norm_columns(x, layer.norm1) + qkv_b).T  # [top, 3 * width]
            q = qkv[:, :width].reshape(top, heads, 1, head_width)
            keys = batch.keys[:top, index]
            values = batch.values[:top, index]
            keys[real, :, real_lengths] = qkv[real, width:2 * width].reshape(-1, heads, head_width)
            values[real, :, real_lengths] = qkv[real, 2 * width:].reshape(-1, heads, head_width)
            scores = (q @ keys[:, :, :span].transpose(0, 1, 3, 2))[:, :, 0] * self.scale + mask[:, None, :]
            attended = (_softmax_rows(scores)[:, :, None, :] @ values[:, :, :span])[:, :, 0]
            x = x + proj_w @ np.ascontiguousarray(attended.reshape(top, width).T) + proj_b
            x = x + down_w @ _gelu(up_w @ _norm_columns(x, layer.norm2) + up_b) + down_b
        for cache in caches:
            cache.length += 1
        logits: NDArray[Any] = (self.embed @ _norm_columns(x[:, real], self.final_norm)).T
        return logits
