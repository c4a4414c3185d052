"""Linear probes on local weights, tied to the behavioural tasks (in progress, issue 7).

Extraction is here: local weights (`_weights`), named token positions (`_positions`) and
residual-stream activations streamed to disk in cached chunks (`_extract`).
"""

from prosaic_evals.probes._extract import Activations, check_layers, extract
from prosaic_evals.probes._positions import check_position, locate
from prosaic_evals.probes._weights import LocalModel, load_local

__all__ = ["Activations", "LocalModel", "check_layers", "check_position", "extract", "load_local", "locate"]
