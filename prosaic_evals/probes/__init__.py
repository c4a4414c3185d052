"""Linear probes on local weights, tied to the behavioural tasks.

`_weights` loads local weights (and a random-init twin), `_positions` finds named token
positions, `_extract` streams residual-stream activations to cached chunks, `_data` and
`_questions` build labelled datasets (built-in ones from the families' tasks), `_fit` has
the probes and grouped folds, `_metrics` the cluster-bootstrap statistics, `_run` puts it
together, `_spec` reads probe files, `_figure` and `_render` show the results.
"""

from prosaic_evals.probes._data import ProbeData, read_probe_file
from prosaic_evals.probes._extract import Activations, check_layers, extract
from prosaic_evals.probes._positions import Located, check_position, locate
from prosaic_evals.probes._render import render_probe
from prosaic_evals.probes._run import ProbeJob, ProbeResult, run_probe
from prosaic_evals.probes._spec import load_job
from prosaic_evals.probes._weights import LocalModel, load_local, random_like

__all__ = [
    "Activations",
    "LocalModel",
    "Located",
    "ProbeData",
    "ProbeJob",
    "ProbeResult",
    "check_layers",
    "check_position",
    "extract",
    "load_job",
    "load_local",
    "locate",
    "random_like",
    "read_probe_file",
    "render_probe",
    "run_probe",
]
