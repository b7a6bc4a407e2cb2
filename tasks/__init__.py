"""Built-in task definitions, shipped as ``glm_tune.tasks``: one module per family, and every
:class:`~glm_tune.task.definition.Task` a module defines at module level is a task
(:func:`glm_tune.task.registry.all_tasks` collects them)."""
