"""Model resolution, the embedded default model and managed vLLM servers.

Nothing here imports torch or vLLM at import time.
"""

from prosaic_evals.models._embedded import embedded_model_dir, ensure_embedded_model
from prosaic_evals.models._resolve import DEFAULT_MODEL, inspect_model_name, is_managed, model_record, resolve_model
from prosaic_evals.models._vllm_server import POOL, LaunchSpec, ServerStartError, VLLMServer

__all__ = [
    "DEFAULT_MODEL",
    "POOL",
    "LaunchSpec",
    "ServerStartError",
    "VLLMServer",
    "embedded_model_dir",
    "ensure_embedded_model",
    "inspect_model_name",
    "is_managed",
    "model_record",
    "resolve_model",
]
