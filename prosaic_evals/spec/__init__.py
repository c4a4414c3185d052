"""Task files: pydantic models and a loader whose errors name the file and field."""

from prosaic_evals._strict import StrictModel
from prosaic_evals.spec._load import LoadedTask, find_task_file, load_task, shipped_task_names
from prosaic_evals.spec._models import (
    BehaviourSpec,
    ChainOfThoughtSpec,
    CodeSecuritySpec,
    ExactMatchSpec,
    FaithfulnessSpec,
    GenerationSpec,
    JudgeSpec,
    LikelihoodSpec,
    MisalignmentSpec,
    NumberSpec,
    TaskSpec,
)

__all__ = [
    "BehaviourSpec",
    "ChainOfThoughtSpec",
    "CodeSecuritySpec",
    "ExactMatchSpec",
    "FaithfulnessSpec",
    "GenerationSpec",
    "JudgeSpec",
    "LikelihoodSpec",
    "LoadedTask",
    "MisalignmentSpec",
    "NumberSpec",
    "StrictModel",
    "TaskSpec",
    "find_task_file",
    "load_task",
    "shipped_task_names",
]
