"""A fault-injecting HTTP proxy for tests: loopback only, in front of a real server.

Each POST is forwarded, or (with probability `rate`, from a seeded generator) answered
with a fault instead: HTTP 429, 500 or 503, or a connection dropped without an answer.
GETs (health, model list) always pass, so that a run gets as far as its requests.
"""

from __future__ import annotations

import random
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

FAULTS = ("429", "500", "503", "drop")


class FaultProxy:
    def __init__(self, upstream: str, *, rate: float, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.faults: Counter[str] = Counter()
        self.forwarded = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=600)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _fault(self) -> str | None:
        with self._lock:
            return self._rng.choice(FAULTS) if self._rng.random() < self.rate else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                fault = proxy._fault()
                if fault is None:
                    self._forward(body)
                    return
                with proxy._lock:
                    proxy.faults[fault] += 1
                if fault == "drop":  # no answer at all: the client sees the connection close
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                payload = b'{"error": {"message": "injected fault", "type": "server_error"}}'
                self.send_response(int(fault))
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                if fault == "429":
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes | None) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                response = proxy._client.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers
                )
                with proxy._lock:
                    proxy.forwarded += 1
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

        return Handler
