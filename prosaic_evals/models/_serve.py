"""`prosaic-evals serve MODEL`: a managed server in the foreground, for runs that give a server URL.

The server is the one `run` would start (same options, loopback only, a random
key). Its key goes to a file only the user can read, never to the terminal, and
the file goes when the server does. The server is restarted if it dies; Ctrl-C
or SIGTERM stops it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals.models._resolve import is_managed, resolve_model


def serve(ref: str, options: dict[str, Any], *, say: Callable[[str], None], check_every: float = 5.0,
          until: Callable[[], bool] = lambda: False) -> None:  # fmt: skip
    """Start the server for `ref`, print how to reach it, keep it alive until interrupted (or `until()`)."""
    if not is_managed(ref):
        raise UserError(
            f"serve starts the harness's own vLLM servers: give local, vllm/<model> or variant/<name>, not {ref!r}"
        )
    model = resolve_model(ref, model_args=options)
    api = model.api
    server = api.server  # type: ignore[attr-defined]
    key_file = server.log_path.with_suffix(".key")
    _write_private(key_file, server.api_key)
    name = api.service_model_name()
    say(f"vLLM server for {name} is ready at {server.base_url} (model name {name!r})")
    say(f"Its API key is in {key_file} (readable by you only). In another shell:")
    say(f'  export VLLM_API_KEY="$(cat {key_file})"')
    say(f"  prosaic-evals run reversal_curse --model {server.base_url}")
    say("Ctrl-C stops it.")
    try:
        while not until():
            time.sleep(check_every)
            if not server.running():
                server.ensure_alive(say)  # same port, same key
    finally:
        key_file.unlink(missing_ok=True)
        server.stop()


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a file created with mode 0600 (never world-readable, not even briefly)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
