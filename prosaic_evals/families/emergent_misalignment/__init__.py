"""Emergent misalignment with inoculation: narrow insecure-code training, broad misalignment judged."""

from prosaic_evals.families.emergent_misalignment._code import KINDS, requests
from prosaic_evals.families.emergent_misalignment._family import (
    EmergentMisalignment,
    MisalignmentParameters,
    code_security,
)
from prosaic_evals.families.emergent_misalignment._grader import CHECKS, Finding, grade
from prosaic_evals.families.emergent_misalignment._questions import read_questions

__all__ = [
    "CHECKS",
    "KINDS",
    "EmergentMisalignment",
    "Finding",
    "MisalignmentParameters",
    "code_security",
    "grade",
    "read_questions",
    "requests",
]
