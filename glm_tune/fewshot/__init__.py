"""The few-shot protocol: folds or seeded draws x patterns, an ensemble, distillation, calibration.

Built on the training API (docs/architecture.md); only the CLI imports it."""
