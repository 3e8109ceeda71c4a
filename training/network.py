"""The network trained here and served as ``code_fim``: its shape, its PyTorch definition, and
its weights in and out of the served model's directory. Training (``train.py``) and the held-out
loss build it from here; ``gguf_export.py`` writes its weights for llama.cpp."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import model_dir


@dataclass(frozen=True)
class Shape:
    vocab: int = 4096
    width: int = 192
    layers: int = 4
    heads: int = 6
    context: int = model_dir.import_module("layout").CONTEXT  # the serving layout's length


def shape_of(directory: Path) -> Shape:
    """The shape in ``directory``'s card, at the serving layout's context (a resumed model's
    positions are stretched to it)."""
    card = json.loads((directory / "card.json").read_text())
    return Shape(**{**card["shape"], "context": Shape.context})


def build_model(shape: Shape) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1 = nn.LayerNorm(shape.width)
            self.qkv = nn.Linear(shape.width, 3 * shape.width)
            self.proj = nn.Linear(shape.width, shape.width)
            self.norm2 = nn.LayerNorm(shape.width)
            self.up = nn.Linear(shape.width, 4 * shape.width)
            self.down = nn.Linear(4 * shape.width, shape.width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, length, width = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
            heads = shape.heads
            q, k, v = (t.view(batch, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
            attended = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(attended.transpose(1, 2).reshape(batch, length, width))
            return x + self.down(functional.gelu(self.up(self.norm2(x)), approximate="tanh"))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(shape.vocab, shape.width)
            self.position = nn.Embedding(shape.context, shape.width)
            self.blocks = nn.ModuleList(Block() for _ in range(shape.layers))
            self.norm = nn.LayerNorm(shape.width)
            for name, parameter in self.named_parameters():
                if name.endswith("weight") and parameter.dim() == 2:
                    nn.init.normal_(parameter, std=0.02)
                    if name.endswith(("proj.weight", "down.weight")):
                        parameter.data /= math.sqrt(2 * shape.layers)
                elif name.endswith("bias"):
                    nn.init.zeros_(parameter)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = self.embed(ids) + self.position(positions)
            for block in self.blocks:
                x = block(x)
            return self.norm(x) @ self.embed.weight.T

    return Model()


def resume(model: Any, directory: Path) -> dict[str, Any]:
    """Loads ``directory``'s exported weights into ``model`` (a checkpoint committed earlier, so
    training goes on across sessions); learned positions are stretched by linear interpolation
    when the context grew. Returns the checkpoint's card."""
    import numpy as np
    import torch
    from torch.nn import functional

    card: dict[str, Any] = json.loads((directory / "card.json").read_text())
    with np.load(directory / "weights.npz") as saved:
        state = {name: torch.tensor(saved[name].astype(np.float32)) for name in saved.files}
    wanted = model.state_dict()["position.weight"].shape[0]
    old = state["position.weight"]
    if old.shape[0] != wanted:
        state["position.weight"] = functional.interpolate(
            old.T[None], size=wanted, mode="linear", align_corners=True)[0].T.contiguous()
    model.load_state_dict(state)
    return card


def export(model: Any, shape: Shape, out: Path) -> int:
    """float16 weights under names the numpy runtime reads; returns the file size."""
    import numpy as np

    arrays = {name: tensor.detach().float().cpu().numpy().astype(np.float16)
              for name, tensor in model.state_dict().items()}
    partial = out.with_name(out.name + ".partial")  # a run killed meanwhile leaves the last one whole
    with partial.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    partial.replace(out)
    return out.stat().st_size
