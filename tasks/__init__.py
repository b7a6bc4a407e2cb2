"""Built-in task definitions, shipped as ``glm_tune.tasks``."""
