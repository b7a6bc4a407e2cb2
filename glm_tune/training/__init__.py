"""Finetuning: options, the Lightning data module and module, optimiser, prompt, trainer, the run API, suites."""
