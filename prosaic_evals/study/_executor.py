"""Where a study's jobs run: one after another in this process, or as Ray tasks on a Ray cluster.

A job (one fine-tune, or the evaluation of one base with all its variants) is a plain function
of plain arguments that writes what lasts to the shared results folder and variant registry,
so that it can run on any machine that sees those folders. Its outcome comes back to this
process, which alone writes the cells' states. A failed job returns a `Failed` instead of
raising, so one cell's failure never stops the others.

Ray: `address` names an existing cluster (its head's host:port, checked to answer within
seconds); without one the harness starts a local cluster bound to 127.0.0.1 under the same
lifeline as its vLLM servers (so a kill of this process, SIGKILL included, takes it down) and
stops it at the end. Each job is a Ray task with the declared `num_cpus` and `num_gpus`.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals._paths import home
from prosaic_evals._strict import StrictModel

CONNECT_TIMEOUT_S = 5.0
"""How long an existing cluster's address gets to answer before the study stops with one line."""

LOCAL_START_TIMEOUT_S = 120.0
WORKER_ENV = ("PROSAIC_EVALS_HOME", "INSPECT_CACHE_DIR", "HF_HOME", "HF_HUB_OFFLINE")
"""Settings an existing cluster's workers get from this process (where the registry and caches live)."""


class Resources(StrictModel):
    """What one Ray task of a kind reserves on a node."""

    num_cpus: float = Field(default=1, ge=0)
    """CPUs each job of this kind reserves."""

    num_gpus: float = Field(default=0, ge=0)
    """GPUs each job of this kind reserves (fractions share a GPU)."""


class RayOptions(StrictModel):
    address: str | None = None
    """An existing cluster's head, host:port (`ray start --head` prints it); none: a local cluster."""

    num_cpus: int | None = Field(default=None, ge=1)
    """CPUs of the local cluster (default: this machine's)."""

    num_gpus: int | None = Field(default=None, ge=0)
    """GPUs of the local cluster (default: what Ray detects)."""

    finetune: Resources = Field(default_factory=Resources)
    """What each fine-tuning job reserves."""

    evaluate: Resources = Field(default_factory=Resources)
    """What each evaluation job (a vLLM server and its tasks) reserves."""


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class Job:
    name: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    resources: Resources


def guarded(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, or a `Failed` with the first line of what went wrong."""
    try:
        return function(*args)
    except Interrupted:
        raise  # the user stopped the study (Ctrl-C, SIGTERM): stop it, do not go on to the next cell
    except Exception as e:  # a job's failure is its cell's, not the study's
        lines = str(e).strip().splitlines() or [type(e).__name__]
        first = " ".join(lines[:2]) if "validation error" in lines[0] else lines[0]  # pydantic: say which
        return Failed(first[:300])


class LocalExecutor:
    """The jobs one after another, here: what a laptop wants, and what a debugger can step through."""

    name = "local"

    def map(self, jobs: Sequence[Job], started: Callable[[Job], None]) -> Iterator[tuple[Job, Any]]:
        for job in jobs:
            started(job)
            yield job, guarded(job.function, *job.args)


class RayExecutor:
    """The jobs as Ray tasks, all submitted at once; outcomes in the order they finish."""

    name = "ray"

    def __init__(self, options: RayOptions) -> None:
        self.options = options

    def map(self, jobs: Sequence[Job], started: Callable[[Job], None]) -> Iterator[tuple[Job, Any]]:
        import ray

        remote = ray.remote(guarded)
        pending = {}
        for job in jobs:
            options = {"num_cpus": job.resources.num_cpus, "num_gpus": job.resources.num_gpus, "max_retries": 1}
            pending[remote.options(**options).remote(job.function, *job.args)] = job
            started(job)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except Exception as e:  # the worker died (a node lost, the OOM killer): the task's own error is gone
                outcome = Failed(f"the Ray task ended abnormally: {str(e).strip().splitlines()[0][:250]}")
            yield job, outcome


@contextmanager
def executor(kind: str, options: RayOptions, say: Callable[[str], None]) -> Iterator[LocalExecutor | RayExecutor]:
    """The executor `kind` names, connected (Ray), and disconnected and stopped after."""
    if kind == "local":
        yield LocalExecutor()
        return
    if importlib.util.find_spec("ray") is None:  # not imported yet: Ray reads its settings when imported
        raise UserError("executor ray: Ray is not installed; pip install 'prosaic-evals[ray]'")
    with _cluster(options, say) as address:
        import ray

        runtime_env = {"env_vars": {k: os.environ[k] for k in WORKER_ENV if k in os.environ}}
        local = options.address is None  # a local cluster's driver must dial 127.0.0.1, not the outside address
        ray.init(address=address, log_to_driver=False, runtime_env=runtime_env,
                 _node_ip_address="127.0.0.1" if local else None)  # fmt: skip
        try:
            check_resources(_node_resources(), options)
            yield RayExecutor(options)
        finally:
            ray.shutdown()


def check_resources(nodes: list[dict[str, float]], options: RayOptions) -> None:
    """Refuse, in one line, a task kind whose resources no node of the cluster has."""
    for kind in ("finetune", "evaluate"):
        wanted: Resources = getattr(options, kind)
        for field, key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            need = getattr(wanted, field)
            most = max((node.get(key, 0.0) for node in nodes), default=0.0)
            if need > most:
                raise UserError(f"ray.{kind}.{field}: {need:g} {key}, but no node of the Ray cluster has that many "
                                f"(the most any node has: {most:g})")  # fmt: skip


def _node_resources() -> list[dict[str, float]]:
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]


@contextmanager
def _cluster(options: RayOptions, say: Callable[[str], None]) -> Iterator[str]:
    if options.address is not None:
        _check_answers(options.address)
        say(f"Ray: connecting to the cluster at {options.address}")
        yield options.address
        return
    with _local_cluster(options, say) as address:
        yield address


def _check_answers(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"ray.address: {address!r} is not host:port (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = "no answer" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        hint = "start the cluster (ray start --head) or leave the address out for a local one"
        within = f"within {CONNECT_TIMEOUT_S:g} s ({reason})"
        raise UserError(f"ray.address: nothing answers at {address} {within}; {hint}") from None


@contextmanager
def _local_cluster(options: RayOptions, say: Callable[[str], None]) -> Iterator[str]:
    """A Ray head on 127.0.0.1 for this study only, with its own token, taken down with this process."""
    from prosaic_evals.models._vllm_server import LIFELINE, stop_group

    if "ray" in sys.modules and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        # Ray reads this when imported; without it, it would dial the machine's outside address.
        raise UserError("executor ray: Ray was imported before the study started; run the study on its own")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every Ray process binds 127.0.0.1 only
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))  # this cluster's, never written to disk
    port = _free_port()
    cpus = options.num_cpus or os.cpu_count() or 1
    gpus = [f"--num-gpus={options.num_gpus}"] if options.num_gpus is not None else []
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
               "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
               f"--num-cpus={cpus}", *gpus]  # fmt: skip
    log = home() / "ray" / f"head-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"Ray: starting a local cluster on 127.0.0.1:{port} with {cpus} CPUs (log: {log})")
    read_end, write_end = os.pipe()
    try:
        with log.open("ab") as out:
            # RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0: on SIGTERM the head would otherwise drain for 30 s (for Ray
            # Serve traffic); this cluster is the study's own and idle when it is taken down
            process = subprocess.Popen([sys.executable, str(LIFELINE), str(read_end), "--", *command],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
                                       pass_fds=(read_end,), start_new_session=True)  # fmt: skip
    finally:
        os.close(read_end)
    try:
        _wait_listening(port, process, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(process.pid, process)
        os.close(write_end)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + LOCAL_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"executor ray: the local Ray cluster did not start (exit {process.returncode}); see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise UserError(f"executor ray: the local Ray cluster did not answer within {LOCAL_START_TIMEOUT_S:g} s; see {log}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
