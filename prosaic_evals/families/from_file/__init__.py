"""The generic family: items, targets and training data from the user's own files."""

from prosaic_evals.families.from_file._family import FromFile, FromFileParameters, ItemFields, TrainFields

__all__ = ["FromFile", "FromFileParameters", "ItemFields", "TrainFields"]
