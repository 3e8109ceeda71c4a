"""Fill-in-the-middle prompts for code LLMs served by Triton's vLLM or TensorRT-LLM backends,
one template per model family (their published FIM formats). Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FimTemplate:
    """How a family asks for the middle, and what ends an answer."""

    form: str
    stop: tuple[str, ...]


TEMPLATES: dict[str, FimTemplate] = {
    # StarCoder, StarCoder2, SantaCoder
    "starcoder": FimTemplate("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
                             ("<|endoftext|>", "<file_sep>", "\n\n\n")),
    # Qwen2.5-Coder
    "qwen": FimTemplate("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
                        ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "\n\n\n")),
    # Code Llama
    "codellama": FimTemplate("<PRE> {prefix} <SUF>{suffix} <MID>", ("<EOT>", "\n\n\n")),
    # DeepSeek-Coder
    "deepseek": FimTemplate("<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
                            ("<｜end▁of▁sentence｜>", "\n\n\n")),
}


def fim_prompt(family: str, prefix: str, suffix: str) -> str:
    """The prompt text for ``family`` (one of :data:`TEMPLATES`)."""
    return TEMPLATES[family].form.format(prefix=prefix, suffix=suffix)
