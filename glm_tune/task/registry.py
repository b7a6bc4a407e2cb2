"""Finding a task by name: the built-in tasks, entry points and a user's own task files.

Built-in tasks live in ``tasks/`` (installed as ``glm_tune.tasks``): every :class:`Task` a module
there defines at module level is registered under its name, the same rule that finds a Task in
a user's file, named as ``path/to/file.py:NAME`` (the file is imported: it is the user's own
code). A user's task can also be a YAML or JSON task file, no code (``path/to/task.yaml``, see
:mod:`glm_tune.task.file`), or command-line options (:func:`resolve_task`). A package can also
publish tasks under the entry-point group ``glm_tune.tasks``.
:class:`Task` itself is defined in :mod:`glm_tune.task.definition`, which ``tasks/`` imports,
so no module in ``tasks/`` imports this one back.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path

import glm_tune.tasks
from glm_tune.errors import OptionError
from glm_tune.task.definition import Expand, Kind, Task
from glm_tune.task.file import TaskFileError, TaskOptions, is_task_file, load_task_file, task_from_definition

__all__ = ["Expand", "Kind", "Task", "all_tasks", "get_task", "register_task", "resolve_task"]


_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` findable by :func:`get_task`; names are unique."""
    if task.name in _REGISTRY:
        raise ValueError(f"a task named {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def all_tasks() -> dict[str, Task]:
    """Every built-in and entry-point task by name."""
    for module in pkgutil.iter_modules(glm_tune.tasks.__path__):
        family = importlib.import_module(f"{glm_tune.tasks.__name__}.{module.name}")
        for task in vars(family).values():
            if isinstance(task, Task) and _REGISTRY.get(task.name) is not task:
                register_task(task)
    for entry in entry_points(group="glm_tune.tasks"):
        if entry.name not in _REGISTRY:
            loaded = entry.load()
            register_task(loaded() if callable(loaded) and not isinstance(loaded, Task) else loaded)
    return dict(_REGISTRY)


def get_task(name: str) -> Task:
    """A built-in or entry-point task by name, ``path/to/task.yaml`` or ``path/to/file.py:NAME``."""
    if ".py:" in name:
        return _task_from_file(name)
    if is_task_file(name):
        return load_task_file(name)
    tasks = all_tasks()
    if name in tasks:
        return tasks[name]
    close = difflib.get_close_matches(name, list(tasks), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise OptionError(f"unknown task {name!r}.{hint} Known tasks: {', '.join(sorted(tasks))} (see `glm-tune tasks`)")


def _task_from_file(spec: str) -> Task:
    file, _, attribute = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise OptionError(f"task file {path} not found")
    module_spec = importlib.util.spec_from_file_location(f"glm_tune_user_task_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    task = getattr(module, attribute, None)
    if not isinstance(task, Task):
        found = [n for n, v in vars(module).items() if isinstance(v, Task)]
        raise OptionError(f"{path} has no Task named {attribute!r}; it defines {', '.join(found) or 'none'}")
    return task


def resolve_task(name: str | None, options: TaskOptions | None = None) -> Task:
    """The task ``--task`` and the task options describe.

    A task file (``.yaml``/``.yml``/``.json``), with the options replacing its fields; a task
    defined by the options alone (named ``name``, or ``custom``); else :func:`get_task`'s.
    """
    given = options.given() if options is not None else {}
    if name and is_task_file(name):
        return load_task_file(name, given)
    if given:
        option = "train_file" if next(iter(given)) == "files" else next(iter(given))
        if name and (".py:" in name or name in all_tasks()):
            raise TaskFileError(f"--{option} defines a task of your own, but --task {name} "
                                "is a task defined in Python; give yours another name, or leave out the task options")
        return task_from_definition({"name": name or "custom", **given}, source=None, base_dir=Path.cwd())
    if not name:
        raise TaskFileError("no task: pass --task NAME (see `glm-tune tasks`), --task path/to/task.yaml, or "
                            "--template with --label_words and --train_file")
    return get_task(name)
