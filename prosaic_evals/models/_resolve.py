"""Model strings -> inspect models.

local                     the embedded model on a managed vLLM server (the default)
variant/<name>, <name>    a registered fine-tuned variant (LoRA: hot-loaded on its base's server)
vllm/<dir-or-hub-id>      a vLLM server we start and manage (prosaic-vllm provider)
hf/local, hf/<dir-or-id>  local weights in this process (inspect's hf provider)
openai/<model>            OpenAI (OPENAI_API_KEY)
anthropic/<model>         Anthropic (ANTHROPIC_API_KEY); --model-base-url reaches
                          any server with /v1/messages, vLLM's included
openai-api/<svc>/<model>  any OpenAI-compatible API (<SVC>_API_KEY, --model-base-url)
http://host:port[/v1]     an already-running OpenAI-compatible server (VLLM_API_KEY if it needs one)
<provider>/<model>        any other inspect provider
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import httpx

from prosaic_evals._errors import UserError

if TYPE_CHECKING:
    from inspect_ai.model import Model

DEFAULT_MODEL = "local"
SERVER_KEY_ENV = "VLLM_API_KEY"
FORMS = (
    "local, variant/<name>, vllm/<model>, hf/<model>, openai/<model>, anthropic/<model>, "
    "openai-api/<service>/<model> with --model-base-url, or a server URL"
)


def inspect_model_name(ref: str) -> str:
    """The inspect model string for one of our model strings (no side effects)."""
    from prosaic_evals.models._provider import PROVIDER

    if ref == "local":
        return f"{PROVIDER}/local"
    variant = _variant_name(ref)
    if variant is not None:
        from prosaic_evals.finetune import Registry

        registered = Registry().get(variant).usable()
        return f"openai/{registered.remote_id}" if registered.backend == "openai" else f"{PROVIDER}/variant/{variant}"
    if ref.startswith("vllm/"):
        return f"{PROVIDER}/{ref.removeprefix('vllm/')}"
    if ref == "hf/local":
        from prosaic_evals.models._embedded import ensure_embedded_model

        return f"hf/{ensure_embedded_model()}"
    if "/" not in ref:
        raise UserError(f"unknown model {ref!r}: use {FORMS}")
    return ref


def is_managed(ref: str | None) -> bool:
    """True when `ref` runs on a vLLM server the harness starts (so `-M` server options apply to it)."""
    ref = ref or DEFAULT_MODEL
    if ref == "local" or ref.startswith("vllm/"):
        return True
    variant = _variant_name(ref)
    if variant is None:
        return False
    from prosaic_evals.finetune import Registry

    return Registry().get(variant).backend == "local"


def _variant_name(ref: str) -> str | None:
    """The variant a model string names: `variant/<name>`, or a bare registered name."""
    if ref.startswith("variant/"):
        return ref.removeprefix("variant/")
    if "/" not in ref:
        from prosaic_evals.finetune import Registry

        if any(v.name == ref for v in Registry().variants()):
            return ref
    return None


def resolve_model(ref: str | None, *, base_url: str | None = None, model_args: dict[str, Any] | None = None) -> Model:
    """An inspect `Model` for `ref`; managed servers start here, before any log is written."""
    from inspect_ai._util.error import PrerequisiteError
    from inspect_ai.model import get_model

    ref = ref or DEFAULT_MODEL
    api_key = None
    if re.match(r"https?://", ref):
        ref, base_url, api_key = _running_server(ref)
    elif base_url is not None:
        check_reachable(base_url)  # an unreachable API would otherwise be retried in silence
    name = inspect_model_name(ref)
    try:
        model = get_model(name, base_url=base_url, api_key=api_key, **(model_args or {}))
        _register_model_info(model)
        return model
    except PrerequisiteError as e:
        raise UserError(f"model {ref!r}: {_plain(str(e.message))}") from None
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        given = ", ".join(sorted(model_args or {}))
        raise UserError(f"model {ref!r}: -M {given}: not an argument this provider takes ({e})") from None
    except ValueError as e:
        if "not recognized" in str(e):
            raise UserError(
                f"unknown model {ref!r}: provider {ref.split('/')[0]!r} is not known; use {FORMS}"
            ) from None
        raise UserError(f"model {ref!r}: {e}") from None


def _register_model_info(model: Model) -> None:
    """Tell inspect what a local model is, so that it never instantiates a second copy to look it up
    (it does for models missing from its database: a second server, or local weights loaded twice)."""
    from inspect_ai.model import ModelInfo, set_model_info
    from inspect_ai.model._providers.hf import HuggingFaceAPI

    from prosaic_evals.models._provider import ManagedVLLMAPI, RunningServerAPI

    api = model.api
    if isinstance(api, ManagedVLLMAPI):
        set_model_info(str(model), ModelInfo(context_length=api.launch.max_model_len))
    elif isinstance(api, HuggingFaceAPI | RunningServerAPI):
        set_model_info(str(model), ModelInfo())
    if isinstance(api, HuggingFaceAPI):
        from prosaic_evals.models._hf import adapt_local_weights

        adapt_local_weights(api)


def _running_server(url: str) -> tuple[str, str, str]:
    """(model string, base URL, API key) for a server that is already running."""
    from prosaic_evals.models._provider import SERVER_PROVIDER

    base = url.rstrip("/")
    base = base if base.endswith("/v1") else f"{base}/v1"
    key = os.environ.get(SERVER_KEY_ENV, "EMPTY")
    try:
        response = httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    except httpx.HTTPError as e:
        raise UserError(f"cannot reach the server at {url}: {e}") from None
    if response.status_code == 401:
        raise UserError(f"the server at {url} refused the API key: set {SERVER_KEY_ENV}")
    try:
        served = response.json()["data"][0]["id"] if response.status_code == 200 else None
    except (ValueError, KeyError, IndexError, TypeError):
        served = None
    if not isinstance(served, str) or not served:
        raise UserError(f"{base}/models did not list a model (HTTP {response.status_code})")
    return f"{SERVER_PROVIDER}/{served}", base, key


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Refuse a base URL nothing answers at (any HTTP answer, even an error, will do)."""
    try:
        httpx.get(url, timeout=timeout)
    except httpx.UnsupportedProtocol:
        raise UserError(f"--model-base-url {url!r} is not an http(s) URL") from None
    except httpx.HTTPError as e:
        raise UserError(f"cannot reach --model-base-url {url}: {type(e).__name__}: {e}") from None


def _plain(message: str) -> str:
    """A rich-formatted inspect message as one plain line."""
    text = re.sub(r"\[/?[a-z ]+\]", "", message).replace("ERROR:", "").strip()
    return " ".join(": ".join(part.strip() for part in text.split("\n\n") if part.strip()).split())


def model_record(model: Model) -> dict[str, Any]:
    """What a log should say about the model that produced it: identity, and the variant's recipe if any."""
    from prosaic_evals.finetune import Registry
    from prosaic_evals.models._provider import PROVIDER

    name = str(model)
    record: dict[str, Any] = {"identity": getattr(model.api, "identity", None) or name}
    variant = None
    if name.startswith(f"{PROVIDER}/variant/"):
        variant = Registry().get(name.removeprefix(f"{PROVIDER}/variant/"))
    elif name.startswith("openai/"):
        variant = next((v for v in Registry().variants() if v.remote_id == name.removeprefix("openai/")), None)
    if variant is not None:
        record["variant"] = variant.model_dump(mode="json", include=VARIANT_FIELDS) | {
            "final_loss": variant.metrics.get("final_loss")
        }
    return record


VARIANT_FIELDS = {"name", "base", "base_identity", "backend", "method", "identity", "data_hash", "data_source",
                  "seed", "spec", "remote_id"}  # fmt: skip
