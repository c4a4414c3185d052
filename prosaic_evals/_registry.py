"""inspect-ai entry point: shipped task files as tasks, and the providers.

inspect eval prosaic_evals/reversal_curse --model prosaic-vllm/local
inspect eval prosaic_evals/task_file -T path=my_task.yaml --model openai/gpt-4o

`prosaic-evals run` builds its tasks through these same factories, so every log
names a registered task and its arguments: `inspect eval-retry` and `inspect
view` work on its logs as on any inspect log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspect_ai import Task, task
from inspect_ai.model import ModelAPI, modelapi

from prosaic_evals.run._build import build_task
from prosaic_evals.spec import load_task, shipped_task_names


@modelapi(name="prosaic-vllm")
def prosaic_vllm() -> type[ModelAPI]:
    from prosaic_evals.models._provider import ManagedVLLMAPI

    return ManagedVLLMAPI


@modelapi(name="prosaic-server")
def prosaic_server() -> type[ModelAPI]:
    from prosaic_evals.models._provider import RunningServerAPI

    return RunningServerAPI


def _shipped_task(name: str) -> Callable[..., Task]:
    def factory(cache: bool = True, **overrides: Any) -> Task:
        return build_task(load_task(name, overrides), cache=cache)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"The shipped task file tasks/{name}.yaml; -T key=value overrides its parameters."
    return task(name=name)(factory)


for _name in shipped_task_names():
    globals()[_name] = _shipped_task(_name)


@task
def task_file(path: str, cache: bool = True, **overrides: Any) -> Task:
    """Any task file, e.g. `-T path=my_task.yaml -T seed=3`."""
    return build_task(load_task(path, overrides), cache=cache)


def registered_task(name_or_path: str, task_args: dict[str, Any], *, cache: bool = True) -> Task:
    """The task through its registered factory, so that the log records its name and arguments."""
    extra = {} if cache else {"cache": False}
    if name_or_path in shipped_task_names():
        factory: Callable[..., Task] = globals()[name_or_path]
        return factory(**task_args, **extra)
    return task_file(path=name_or_path, **task_args, **extra)
