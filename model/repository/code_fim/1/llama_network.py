"""A GGUF model run by llama.cpp (through llama-cpp-python's bindings): the engine keeps its own
decoding (healing, the copy model, the one-line search, the stop rules, the threshold) and asks
this only for logits.

Each generation slot and each stored prompt is a llama.cpp *sequence* with its own stream of the
key/value cache (``kv_unified`` off), so a decoding step attends over its own positions only,
however many prompts are kept. Reusing a stored prompt is a copy of its stream and a trim of the
positions past the shared start (``llama_memory_seq_cp``/``seq_rm``): the engine's prefix cache and
the search's branching become llama.cpp's sequence operations, and the rows of every active
sequence go through the network in one ``llama_decode`` (continuous batching).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: The key our GGUF export writes: the SHA-256 of the weights a file came from.
DIGEST_KEY = "code_fim.weights_sha256"


#: Positions per sequence at most (a brought model may know 32,768; the prompt window is far less).
MAX_CONTEXT = 2048


class LoadError(RuntimeError):
    """The GGUF file cannot be served; the message names the file and the fix."""


class SequenceCache:
    """One llama.cpp sequence: its positions' keys and values, for the engine."""

    def __init__(self, network: LlamaNetwork, seq: int, slot: int = -1) -> None:
        self.network = network
        self.seq = seq
        self.slot = slot
        self.length = 0

    def copy_from(self, other: SequenceCache, length: int) -> None:
        """Takes ``other``'s first ``length`` positions (its stream copied whole, then trimmed)."""
        self.network.copy(other, self, length)


class SequenceBatch:
    """The generation slots: sequences ``0 .. slots - 1``."""

    def __init__(self, network: LlamaNetwork, slots: int) -> None:
        self.caches = [SequenceCache(network, i, i) for i in range(slots)]
        self.free = list(range(slots))

    def take(self) -> SequenceCache:
        """The lowest free slot."""
        if not self.free:
            raise RuntimeError("no free generation slot")
        self.free.sort()
        cache = self.caches[self.free.pop(0)]
        cache.length = 0
        return cache

    def give(self, cache: SequenceCache) -> None:
        if cache.slot in self.free:
            raise RuntimeError(f"generation slot {cache.slot} freed twice")
        self.free.append(cache.slot)


class _Rows:
    """A ``llama_batch`` over arrays we own, filled by slices (no per-token Python calls)."""

    def __init__(self, llama: Any, capacity: int) -> None:
        self.tokens = np.zeros(capacity, dtype=np.int32)
        self.positions = np.zeros(capacity, dtype=np.int32)
        self.seq_counts = np.ones(capacity, dtype=np.int32)
        self.seqs = np.zeros(capacity, dtype=np.int32)
        self.outputs = np.zeros(capacity, dtype=np.int8)
        base = self.seqs.ctypes.data
        self.seq_pointers = (ctypes.POINTER(ctypes.c_int32) * capacity)(
            *(ctypes.cast(base + 4 * i, ctypes.POINTER(ctypes.c_int32)) for i in range(capacity)))
        self.batch = llama.llama_batch()
        self.batch.token = self.tokens.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        self.batch.embd = None
        self.batch.pos = self.positions.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        self.batch.n_seq_id = self.seq_counts.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        self.batch.seq_id = self.seq_pointers
        self.batch.logits = self.outputs.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))


class LlamaNetwork:
    """A GGUF model in llama.cpp, one context of ``slots + kept`` sequences (see the module)."""

    def __init__(self, path: Path, threads: int = 1, flash_attention: int = 1,
                 ubatch: int = 256, max_context: int = MAX_CONTEXT) -> None:
        self.path = path
        self.llama = _bindings()
        self.threads = threads
        #: llama.cpp's flash attention (-1 its choice, 0 off, 1 on) and the rows a prompt is run
        #: in at a time: for code_fim on one core, on and 256 ran a cold 959-token prompt in
        #: 117-125 ms, off and 1,024 in 234 ms (docs/HISTORY.md has the settings tried).
        self.flash_attention = flash_attention
        self.ubatch = ubatch
        self.model = _load_model(self.llama, path)
        llama = self.llama
        vocab = llama.llama_model_get_vocab(self.model)
        self.vocab = int(llama.llama_vocab_n_tokens(vocab))
        #: Positions per sequence: the model's trained context, at most ``max_context`` (every
        #: sequence's cache is allocated up front).
        self.context = min(int(llama.llama_model_n_ctx_train(self.model)), max_context)
        self.ctx: Any = None
        self.memory: Any = None
        self.rows: _Rows | None = None
        self.spare_seqs: list[int] = []
        self._threads_now = threads
        #: Whether it is a model other than code_fim's export (it keeps its own tokenizer).
        self.brought = False

    def metadata(self, key: str) -> str | None:
        """A string value of the file's metadata (``None`` when absent)."""
        buffer = ctypes.create_string_buffer(256)
        size = self.llama.llama_model_meta_val_str(self.model, key.encode(), buffer, len(buffer))
        return None if size < 0 else buffer.value.decode("utf-8", errors="replace")

    def describe(self) -> str:
        """What runs, for the model's log line."""
        return (f"{self.path.name} on llama.cpp ({self.threads} thread{'s' if self.threads > 1 else ''} "
                "for a prompt while nothing else generates, else one)")

    def new_batch(self, slots: int, kept: int = 0) -> SequenceBatch:
        """Creates the llama.cpp context: ``slots`` generating sequences and ``kept`` stored
        prompts, each with the model's whole context. A context made before is freed (with every
        sequence of it: an engine owns its network's context)."""
        llama = self.llama
        if self.ctx is not None:
            llama.llama_free(self.ctx)
            self.ctx = None
        sequences = slots + kept
        self._check_memory(sequences)
        params = llama.llama_context_default_params()
        params.n_seq_max = sequences
        params.n_ctx = self.context * sequences
        params.n_batch = self.context
        params.n_ubatch = self.ubatch
        params.flash_attn_type = self.flash_attention
        params.n_threads = 1  # one row (a lone typing step) is too small to split
        params.n_threads_batch = self.threads
        params.kv_unified = False
        params.no_perf = True
        self.ctx = llama.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise LoadError(f"{self.path}: llama.cpp could not create a context of {sequences} "
                            f"sequences x {self.context} positions (too little memory?)")
        self.memory = llama.llama_get_memory(self.ctx)
        self._threads_now = self.threads
        self.rows = _Rows(llama, max(self.context, sequences))
        self.spare_seqs = list(range(slots, sequences))
        return SequenceBatch(self, slots)

    def _check_memory(self, sequences: int) -> None:
        """Refuses a context whose float16 keys and values would not fit in half the memory
        available now: llama.cpp writes the whole cache when it creates it, and the kernel's
        out-of-memory killer, not an error, would answer."""
        llama = self.llama
        heads = max(1, int(llama.llama_model_n_head(self.model)))
        kv_heads = int(llama.llama_model_n_head_kv(self.model))
        kv_width = int(llama.llama_model_n_embd(self.model)) // heads * kv_heads
        needed = sequences * self.context * int(llama.llama_model_n_layer(self.model)) * 2 * kv_width * 2
        available = _available_memory()
        if available is not None and needed > available // 2:
            raise LoadError(
                f"{self.path}: {sequences} sequences x {self.context} positions of keys and values "
                f"need {needed / 2**30:.1f} GiB, more than half of the {available / 2**30:.1f} GiB "
                "available: give the model fewer slots (the worker's WORKER_MODEL_SLOTS and the "
                "engine's SLOTS), a shorter MAX_CONTEXT, or more memory")

    def rewind(self, cache: SequenceCache, length: int) -> None:
        """Forgets ``cache``'s positions from ``length`` on."""
        self.llama.llama_memory_seq_rm(self.memory, cache.seq, length, -1)
        cache.length = min(cache.length, length)

    def keep(self, source: SequenceCache, length: int) -> SequenceCache | None:
        """A stored copy of ``source``'s first ``length`` positions (``None``: no room)."""
        if not self.spare_seqs:
            return None
        entry = SequenceCache(self, self.spare_seqs.pop())
        self.copy(source, entry, length)
        return entry

    def forget(self, entry: SequenceCache) -> None:
        """Gives a stored prompt's sequence back."""
        self.llama.llama_memory_seq_rm(self.memory, entry.seq, -1, -1)
        entry.length = 0
        self.spare_seqs.append(entry.seq)

    def copy(self, source: SequenceCache, target: SequenceCache, length: int) -> None:
        llama = self.llama
        llama.llama_memory_seq_rm(self.memory, target.seq, -1, -1)
        llama.llama_memory_seq_cp(self.memory, source.seq, target.seq, -1, -1)
        llama.llama_memory_seq_rm(self.memory, target.seq, length, -1)
        target.length = length

    def prefill(self, ids: list[int], cache: SequenceCache, alone: bool = True) -> NDArray[Any]:
        """Runs ``ids`` after the cache's ``length`` positions; the last position's logits.

        ``alone`` (no other request is generating): the prompt gets ``threads`` threads, else
        one. llama.cpp's threads wait for each other by spinning, so on cores the rest of a
        loaded stack also wants they burn what they save (a second thread for every batched step
        doubled the model's CPU per completion under load, ``python -m bench.capacity``);
        alone, they halve a cold prompt's latency."""
        start, count = cache.length, len(ids)
        if start + count > self.context:
            raise ValueError(f"{start + count} positions exceed the model's context of {self.context}")
        if count == 0:
            raise ValueError("an empty prompt")
        rows = self._rows()
        self.rewind(cache, start)  # a slot's earlier use
        rows.tokens[:count] = ids
        rows.positions[:count] = np.arange(start, start + count)
        rows.seqs[:count] = cache.seq
        rows.outputs[:count] = 0
        rows.outputs[count - 1] = 1
        self._decode(count, self.threads if alone else 1)
        cache.length = start + count
        last: NDArray[Any] = self._logits([-1])[0]  # -1: the batch's last output
        return last

    def step(self, tokens: list[int], caches: list[SequenceCache], alone: bool = False
             ) -> NDArray[Any]:
        """One new token for each of several sequences at once; logits [len(tokens), vocab].
        ``alone`` (the rows are one request's, a search's hypotheses): ``threads`` threads, as
        for a prompt; else one."""
        count = len(tokens)
        for cache in caches:
            if cache.length >= self.context:
                raise ValueError(f"a sequence reached the model's context of {self.context}")
        rows = self._rows()
        rows.tokens[:count] = tokens
        rows.positions[:count] = [cache.length for cache in caches]
        rows.seqs[:count] = [cache.seq for cache in caches]
        rows.outputs[:count] = 1
        self._decode(count, self.threads if alone else 1)
        for cache in caches:
            cache.length += 1
        return self._logits(list(range(count)))

    def _rows(self) -> _Rows:
        if self.rows is None:
            raise RuntimeError("new_batch() creates the llama.cpp context first")
        return self.rows

    def _decode(self, count: int, threads: int) -> None:
        rows = self._rows()
        if threads != self._threads_now:
            self.llama.llama_set_n_threads(self.ctx, 1, threads)
            self._threads_now = threads
        rows.batch.n_tokens = count
        status = self.llama.llama_decode(self.ctx, rows.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} ({count} tokens)")

    def _logits(self, tokens: list[int]) -> NDArray[Any]:
        """The logits after each of the batch's ``tokens`` (indexes into the batch)."""
        out = np.empty((len(tokens), self.vocab), dtype=np.float32)
        for row, token in enumerate(tokens):
            pointer = self.llama.llama_get_logits_ith(self.ctx, token)
            out[row] = np.ctypeslib.as_array(pointer, shape=(self.vocab,))
        return out

    def close(self) -> None:
        if self.ctx is not None:
            self.llama.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            self.llama.llama_model_free(self.model)
            self.model = None


def _bindings() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise LoadError("llama-cpp-python is not installed (`make install` builds it)") from error
    if not getattr(_bindings, "ready", False):
        llama_cpp.llama_backend_init()
        if not os.environ.get("LLAMA_LOG"):
            llama_cpp.llama_log_set(_QUIET, ctypes.c_void_p(0))
        _bindings.ready = True  # type: ignore[attr-defined]
    return llama_cpp


def _quiet(level: int, text: bytes, user_data: Any) -> None:
    """llama.cpp's log: errors only (level 4), and never text of a prompt (it logs none)."""
    if level == 4:
        os.write(2, b"llama.cpp: " + text)


def _available_memory() -> int | None:
    """Bytes of memory available now (``/proc/meminfo``; ``None`` where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _load_model(llama: Any, path: Path) -> Any:
    if not path.is_file():
        raise LoadError(f"{path}: no such GGUF file (set COMPLETION_MODEL to a .gguf file, or run "
                        "`python -m training.gguf_export` for code_fim's)")
    with path.open("rb") as file:
        if file.read(4) != b"GGUF":
            raise LoadError(f"{path}: not a GGUF file (it does not start with the GGUF magic)")
    params = llama.llama_model_default_params()
    params.n_gpu_layers = 0
    model = llama.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise LoadError(f"{path}: llama.cpp could not load it (truncated, or an architecture this "
                        "llama.cpp does not know; LLAMA_LOG=1 shows its reason)")
    if llama.llama_model_is_recurrent(model) or llama.llama_model_is_hybrid(model):
        llama.llama_model_free(model)
        raise LoadError(f"{path}: a recurrent or hybrid model (its memory cannot be cut back to a "
                        "shared start, which the engine's stored prompts need): bring a transformer")
    return model


_QUIET: Any = None
try:  # the callback type exists only with the bindings installed
    import llama_cpp as _llama_cpp

    _QUIET = _llama_cpp.llama_log_callback(_quiet)
except ImportError:
    pass
