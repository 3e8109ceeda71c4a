"""Tiny GGUF models the tests make: a llama-shaped network (RMS norm, rotary positions, gated
feed-forward, grouped-query attention) with random weights and a byte-level BPE vocabulary whose
special tokens name StarCoder's FIM markers, so the engine's handling of a brought model (its own
tokenizer, its file's FIM tokens or a configured template) is exercised with a real llama.cpp
load. Its completions mean nothing: no quality is claimed for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CODE_FIM = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"
WIDTH, LAYERS, HEADS, KV_HEADS, FEED_FORWARD, CONTEXT = 64, 2, 4, 2, 128, 512
STARCODER_SPECIALS = ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                      "<fim_pad>", "<file_sep>")
PLAIN_SPECIALS = ("<|endoftext|>", "<reserved_1>", "<reserved_2>", "<reserved_3>",
                  "<reserved_4>", "<reserved_5>")


def write(path: Path, specials: tuple[str, ...] = STARCODER_SPECIALS, seed: int = 0,
          architecture: str = "llama") -> Path:
    """Writes the tiny model to ``path`` (code_fim's vocabulary and merges under other special
    tokens; ``architecture`` other than llama makes a file llama.cpp refuses)."""
    import gguf

    tokenizer = json.loads((CODE_FIM / "tokenizer.json").read_text())
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    tokens[:len(specials)] = specials
    rng = np.random.default_rng(seed)

    def matrix(rows: int, columns: int) -> np.ndarray:
        return (rng.standard_normal((rows, columns)) * 0.2).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny-test-llama")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(WIDTH // HEADS)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if i < len(specials) else 1 for i in range(len(tokens))])
    writer.add_token_merges([" ".join(pair) if isinstance(pair, list) else pair
                             for pair in tokenizer["model"]["merges"]])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_add_bos_token(False)
    kv = WIDTH // HEADS * KV_HEADS
    writer.add_tensor("token_embd.weight", matrix(len(tokens), WIDTH))
    writer.add_tensor("output_norm.weight", np.ones(WIDTH, dtype=np.float32))
    writer.add_tensor("output.weight", matrix(len(tokens), WIDTH))
    for layer in range(LAYERS):
        block = f"blk.{layer}."
        writer.add_tensor(block + "attn_norm.weight", np.ones(WIDTH, dtype=np.float32))
        writer.add_tensor(block + "attn_q.weight", matrix(WIDTH, WIDTH))
        writer.add_tensor(block + "attn_k.weight", matrix(kv, WIDTH))
        writer.add_tensor(block + "attn_v.weight", matrix(kv, WIDTH))
        writer.add_tensor(block + "attn_output.weight", matrix(WIDTH, WIDTH))
        writer.add_tensor(block + "ffn_norm.weight", np.ones(WIDTH, dtype=np.float32))
        writer.add_tensor(block + "ffn_gate.weight", matrix(FEED_FORWARD, WIDTH))
        writer.add_tensor(block + "ffn_up.weight", matrix(FEED_FORWARD, WIDTH))
        writer.add_tensor(block + "ffn_down.weight", matrix(WIDTH, FEED_FORWARD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
