"""Pretraining GLM: the corpus, the blank-infilling objective, the pretraining loop, tokenizer training."""
