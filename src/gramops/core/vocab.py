"""The project's shared words: the verb tags, the model families, the short SHA."""

from __future__ import annotations

TAGS: tuple[str, ...] = ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ")
"""Penn verb tags in output order: column ``k`` of every probability matrix is ``TAGS[k]``."""

FAMILIES: tuple[str, ...] = ("fp32", "int8", "lora")
"""The model families a pipeline run builds, parents before children (INT8 and LoRA are
made from FP32), which is the order they are registered and mirrored in."""

SHORT_SHA = 12
"""Hex digits of a canonical SHA that people read (names, tables, plots, messages)."""


def short(sha: str) -> str:
    """The short form of a SHA people read; refs may still be any unambiguous prefix."""
    return sha[:SHORT_SHA]
