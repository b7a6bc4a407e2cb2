"""glm-tune: finetune GLM on NLU and seq2seq tasks by turning every task into a cloze question."""

__version__ = "0.1.0"
