"""The base of every spec model."""

from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

BOOL_AS_NUMBER = "bool_as_number"
"""Error type for a boolean given where a number is expected; its context names the field."""


class StrictModel(BaseModel):
    """Unknown keys are errors, values are immutable, numbers are finite and never booleans.

    Pydantic would read `true` as 1 for an integer field and accept `.inf`; in a task
    file both are mistakes that would otherwise surface only after a log exists.
    """

    # Attribute docstrings become field descriptions: the generated reference shows them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if isinstance(value, bool) and field is not None and not _admits_bool(field.annotation):
                    raise PydanticCustomError(
                        BOOL_AS_NUMBER,
                        "expected a number or text, got the boolean {value}",
                        {"field": name, "value": str(value).lower()},
                    )
        return data


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    if get_origin(annotation) is Literal:
        return any(isinstance(arg, bool) for arg in get_args(annotation))
    return any(_admits_bool(arg) for arg in get_args(annotation))
