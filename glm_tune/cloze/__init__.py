"""Rows to cloze inputs and back: templates, verbalizers, input building, scoring, generation, fill.

No Lightning and no tasks in here (docs/architecture.md)."""
