"""Studies: fine-tune a base model, evaluate both on identical items, compare, write a results folder."""

from prosaic_evals.study._study import StudySpec, load_study, run_study

__all__ = ["StudySpec", "load_study", "run_study"]
