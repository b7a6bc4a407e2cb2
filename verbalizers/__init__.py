"""Label-word files (JSON/YAML), shipped as ``glm_tune.verbalizers``."""
