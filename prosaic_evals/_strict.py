"""The base of every spec model."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
