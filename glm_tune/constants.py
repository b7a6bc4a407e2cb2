"""Strings and numbers GLM's inputs use across the package, defined once."""

from __future__ import annotations

IGNORE_INDEX = -100
"""Label of positions that take no part in the loss (the context and padding of training inputs)."""

MASK_TOKEN = "[MASK]"
"""A short blank (a word or a few): GLM's NLU cloze patterns use it."""
SMASK_TOKEN = "[sMASK]"
"""A sentence-level blank."""
GMASK_TOKEN = "[gMASK]"
"""A generation blank: the rest of the document, left to right."""
BLANKS: tuple[str, ...] = (MASK_TOKEN, SMASK_TOKEN, GMASK_TOKEN)
"""GLM's three blank tokens, as they are written in text."""

SOP_TOKEN = "<|startofpiece|>"
"""Starts each blank's fill in Part B."""
EOP_TOKEN = "<|endofpiece|>"
"""Ends a fill."""
