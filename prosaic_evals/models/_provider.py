"""inspect model provider `prosaic-vllm/<model>`: a vLLM server we start and manage.

`<model>` is `local` (the embedded model), a model directory, a hub id, or
`variant/<name>` (a registered fine-tuned variant: a LoRA adapter is hot-loaded
onto its base model's server, so K variants of one base share one server). The
server starts when the model is created (before inspect's live display, so its
progress and errors print cleanly), is shared by every task in the process,
and is restarted if it dies; requests that failed with it are retried.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import GenerateConfig
from inspect_ai.model._model_info import MODEL_INFO_LOOKUP_API_KEY
from inspect_ai.model._providers.openai_compatible import OpenAICompatibleAPI
from openai import APIConnectionError, AsyncOpenAI

from prosaic_evals._errors import UserError
from prosaic_evals.models._completions import complete, is_completion
from prosaic_evals.models._embedded import EMBEDDED_NAME, ensure_embedded_model
from prosaic_evals.models._identity import model_identity
from prosaic_evals.models._retry import server_wait
from prosaic_evals.models._vllm_server import POOL, LaunchSpec, VLLMServer, server_options

PROVIDER = "prosaic-vllm"
SERVER_PROVIDER = "prosaic-server"
VARIANT_PREFIX = "variant/"
LOOKUP_URL = "http://127.0.0.1:9/v1"
"""Never contacted: the base URL of a provider created only for a model-information lookup."""
MAX_CONNECTIONS = 128
"""Requests in flight per model: vLLM batches concurrent requests, and 128 is what a vLLM-CPU server runs at once
by default (GPU servers run more). Measured on 2 cores, the 600 reversal-curse generations: 65-70 s at 128, 90 s
at 32."""


def local_target(model: str) -> tuple[str, str]:
    """(path or hub id, served name) for a model given as `local`, a path or a hub id."""
    if model == "local":
        return str(ensure_embedded_model()), EMBEDDED_NAME
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), path.resolve().name
    return model, model


class ManagedVLLMAPI(OpenAICompatibleAPI):
    """OpenAI-compatible client of a managed vLLM server."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 (inspect's ModelAPI signature)
        **model_args: Any,
    ) -> None:
        if api_key == MODEL_INFO_LOOKUP_API_KEY:
            # inspect instantiates a provider just to look up a model's context window:
            # answer that without starting (or sharing) a server.
            self.served = model_name
            super().__init__(model_name=model_name, base_url=LOOKUP_URL, api_key=api_key, config=config, service="vllm")
            return
        self.launch, self.served, self.identity, adapter = planned_server(model_name, model_args)
        model_args = {}  # every argument was a server option
        self.server: VLLMServer = POOL.get(self.launch)
        if adapter is not None:  # a LoRA variant: hot-load it onto its base model's server
            self.server.load_adapter(self.served, adapter)
        super().__init__(
            model_name=model_name,
            base_url=self.server.base_url,
            api_key=self.server.api_key,
            config=config,
            service="vllm",
            **model_args,
        )
        # inspect's response cache keys on base_url: use the model's identity, not
        # the port of this run's server, so a re-run is served from the cache.
        self.base_url = f"{PROVIDER}://{self.identity}"

    def _create_client(self) -> AsyncOpenAI:
        # max_retries=0: the SDK's own retries would hide failures from inspect's loop, whose limits
        # (--max-retries, --timeout) and notices are the ones a user sets and sees
        server = getattr(self, "server", None)  # none for a model-information lookup
        url, key = (server.base_url, server.api_key) if server else (LOOKUP_URL, self.api_key)
        return AsyncOpenAI(api_key=key, base_url=url, http_client=self.http_client, max_retries=0)

    def service_model_name(self) -> str:
        return self.served

    def max_connections(self) -> int:
        return MAX_CONNECTIONS

    def retry_wait(self) -> Any:
        return server_wait()  # a local server recovers in seconds, or not at all

    async def generate(self, input: Any, tools: Any, tool_choice: Any, config: GenerateConfig) -> Any:
        try:
            return await self._generate(input, tools, tool_choice, config)
        except APIConnectionError:
            # The server may have died: restart it if so, then retry once (a
            # second failure goes to inspect's own retry policy).
            await recover(self.server)
            return await self._generate(input, tools, tool_choice, config)

    async def _generate(self, input: Any, tools: Any, tool_choice: Any, config: GenerateConfig) -> Any:
        if is_completion(config):
            return await complete(self.client, self.served, input, config)
        return await super().generate(input, tools, tool_choice, config)


class RunningServerAPI(OpenAICompatibleAPI):
    """`prosaic-server/<served name>`: an OpenAI-compatible server that is already running
    (a URL model), with the short retry waits of a local server."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 (inspect's ModelAPI signature)
        **model_args: Any,
    ) -> None:
        if model_args:
            raise UserError(
                f"-M {', '.join(sorted(model_args))}: a server that is already running takes no server options "
                "(they apply to servers the harness starts: local, vllm/<model>, variant/<name>)"
            )
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config, service="vllm")

    def _create_client(self) -> AsyncOpenAI:
        return AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, http_client=self.http_client, max_retries=0)

    async def generate(self, input: Any, tools: Any, tool_choice: Any, config: GenerateConfig) -> Any:
        if is_completion(config):
            return await complete(self.client, self.service_model_name(), input, config)
        return await super().generate(input, tools, tool_choice, config)

    def retry_wait(self) -> Any:
        return server_wait()


def planned_server(model_name: str, model_args: dict[str, Any]) -> tuple[LaunchSpec, str, str, str | None]:
    """(launch spec, served name, identity, LoRA adapter folder or None) for `prosaic-vllm/<model_name>`,
    computed without starting anything, so that bad options are refused before a server starts."""
    options = server_options(model_args)  # refused here, not by the client after a server started
    if model_name.startswith(VARIANT_PREFIX):
        return _variant(model_name.removeprefix(VARIANT_PREFIX), options)
    target, served = local_target(model_name)
    return LaunchSpec.for_model(target, served, **options), served, model_identity(target), None


def _variant(name: str, options: dict[str, Any]) -> tuple[LaunchSpec, str, str, str | None]:
    """(launch spec, served name, identity, adapter folder or None) of a registered local variant."""
    from prosaic_evals.finetune import Registry

    variant = Registry().get(name).usable()
    if variant.backend != "local":
        raise UserError(f"variant {name} is an OpenAI model: evaluate it as openai/{variant.remote_id}")
    if variant.method == "full":
        launch = LaunchSpec.for_model(str(variant.adapter_dir), name, **options)
        return launch, name, model_identity(str(variant.adapter_dir)), None
    target, served = local_target(variant.base)
    launch = LaunchSpec.for_model(target, served, **options)
    rank = json.loads((variant.adapter_dir / "adapter_config.json").read_text())["r"]
    if launch.enable_lora is False or rank > launch.max_lora_rank:
        raise UserError(f"variant {name} has LoRA rank {rank}: serve its base with -M max_lora_rank={rank}")
    return launch, name, f"{model_identity(target)}+{variant.identity}", str(variant.adapter_dir)


async def recover(server: VLLMServer) -> None:
    """Restart `server` if it died (in a worker thread: a start takes a while)."""
    await anyio.to_thread.run_sync(server.ensure_alive)
