"""Exports the trained network to GGUF, llama.cpp's model file, as its ``gpt2`` architecture:
the same pre-norm blocks, learned positions, tied embeddings and tanh GELU as ``transformer.py``.

Two files: float (``code_fim.f16.gguf``: the matrices in float16 as trained and stored, so the
very same numbers; norms and biases in float32 as llama.cpp adds them) and 8-bit
(``code_fim.q8_0.gguf``: every matrix but the positions in llama.cpp's Q8_0 blocks of 32).

The vocabulary and merges go in too (llama.cpp will not load a model without them), but serving
keeps tokenizing with our own tokenizer (``bpe.py``) and hands the engine ids: its pre-tokenizer
splits words by a pattern none of llama.cpp's built-in ones reproduces. Each file records the
SHA-256 of the weights it came from (``code_fim.weights_sha256``), so serving refuses a file
exported from other weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: The two exports: file name -> whether its matrices are 8-bit.
FILES = {"code_fim.f16.gguf": False, "code_fim.q8_0.gguf": True}
DIGEST_KEY = "code_fim.weights_sha256"
#: Our names -> llama.cpp's (``blk.N.`` prefixed for the blocks).
_BLOCK_NAMES = {"norm1": "attn_norm", "qkv": "attn_qkv", "proj": "attn_output",
                "norm2": "ffn_norm", "up": "ffn_up", "down": "ffn_down"}
_TOKEN_NORMAL, _TOKEN_CONTROL = 1, 3


def export(directory: Path, name: str, quantized: bool) -> Path:
    """Writes ``directory/name`` from ``weights.npz``, ``card.json`` and ``tokenizer.json``."""
    import gguf

    raw = (directory / "weights.npz").read_bytes()
    with np.load(io.BytesIO(raw)) as data:
        weights = {key: np.ascontiguousarray(data[key]) for key in data.files}
    shape = json.loads((directory / "card.json").read_text())["shape"]
    tokenizer = json.loads((directory / "tokenizer.json").read_text())
    path = directory / name
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_name("code_fim")
    writer.add_string(DIGEST_KEY, hashlib.sha256(raw).hexdigest())
    writer.add_context_length(shape["context"])
    writer.add_embedding_length(shape["width"])
    writer.add_feed_forward_length(weights["blocks.0.up.weight"].shape[0])
    writer.add_block_count(shape["layers"])
    writer.add_head_count(shape["heads"])
    writer.add_layer_norm_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if quantized else gguf.LlamaFileType.MOSTLY_F16)
    _add_vocabulary(writer, tokenizer)
    for ours, theirs in _tensor_names(shape["layers"]):
        array = weights[ours]
        if array.ndim == 1:
            writer.add_tensor(theirs, array.astype(np.float32))
        elif quantized and ours != "position.weight":
            writer.add_tensor(theirs, gguf.quants.quantize(array.astype(np.float32),
                                                           gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(theirs, array.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tensor_names(layers: int) -> list[tuple[str, str]]:
    names = [("embed.weight", "token_embd.weight"), ("position.weight", "position_embd.weight"),
             ("norm.weight", "output_norm.weight"), ("norm.bias", "output_norm.bias")]
    for i in range(layers):
        for ours, theirs in _BLOCK_NAMES.items():
            for kind in ("weight", "bias"):
                names.append((f"blocks.{i}.{ours}.{kind}", f"blk.{i}.{theirs}.{kind}"))
    return names  # no output.weight: llama.cpp ties it to token_embd, as the network does


def _add_vocabulary(writer: Any, tokenizer: dict[str, Any]) -> None:
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    special = {added["id"]: added["content"] for added in tokenizer["added_tokens"]}
    for index, text in special.items():
        tokens[index] = text
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")  # unused: serving hands the engine ids
    writer.add_token_list(tokens)
    writer.add_token_types([_TOKEN_CONTROL if i in special else _TOKEN_NORMAL
                            for i in range(len(tokens))])
    writer.add_token_merges([" ".join(pair) if isinstance(pair, list) else pair
                             for pair in tokenizer["model"]["merges"]])
    ids = {text: index for index, text in special.items()}
    writer.add_bos_token_id(ids["<|endoftext|>"])
    writer.add_eos_token_id(ids["<|endoftext|>"])
    writer.add_add_bos_token(False)
    writer.add_uint32("tokenizer.ggml.fim_pre_token_id", ids["<|fim_prefix|>"])
    writer.add_uint32("tokenizer.ggml.fim_suf_token_id", ids["<|fim_suffix|>"])
    writer.add_uint32("tokenizer.ggml.fim_mid_token_id", ids["<|fim_middle|>"])


def main(argv: list[str] | None = None) -> None:
    """``python -m training.gguf_export [MODEL_DIR]``: writes both GGUF files beside the weights."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "model/repository/code_fim/1")
    for name, quantized in FILES.items():
        path = export(directory, name, quantized)
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
