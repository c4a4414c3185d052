"""A local stand-in for the OpenAI Batch API (the real one is unreachable from CI), answering from a real model.

Implements the documented endpoints inspect's OpenAI batcher uses, with their response shapes:
POST /v1/files (multipart, purpose "batch"), POST /v1/batches, GET /v1/batches/{id} and
GET /v1/files/{id}/content. A batch's lines are sent one by one to an upstream OpenAI-compatible
server (the embedded model on vLLM), so the answers are real; the output file holds one line per
request ({custom_id, response: {status_code, body}}). Every batch is recorded for the test.
"""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

API_KEY = "sk-batch-standin"


@dataclass
class BatchStandIn:
    upstream: str
    """Base URL (ending in /v1) of the OpenAI-compatible server that answers the requests."""

    upstream_key: str
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_calls: int = 0
    """Requests sent to /v1/chat/completions directly (not through a batch)."""

    _ids: Any = field(default_factory=itertools.count)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-standin{next(self._ids)}"

    def run(self, batch_id: str) -> None:
        """Answer every line of the batch's input file upstream; then the batch is completed."""
        batch = self.batches[batch_id]
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].decode().splitlines() if x.strip()]
        out = []
        with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {self.upstream_key}"}) as client:
            for line in lines:
                reply = client.post(self.upstream + line["url"].removeprefix("/v1"), json=line["body"])
                out.append({"id": self.next_id("batch_req"), "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": reply.status_code, "request_id": "", "body": reply.json()}})  # fmt: skip
                batch["request_counts"]["completed"] += 1
        output_id = self.next_id("file")
        self.files[output_id] = "".join(json.dumps(x) + "\n" for x in out).encode()
        batch.update(status="completed", output_file_id=output_id, completed_at=int(time.time()))


def serve(standin: BatchStandIn) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in on a free loopback port; returns (server, base URL ending in /v1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any] | bytes) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {API_KEY}":
                return True
            self._reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return False

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_POST(self) -> None:
            if not self._authorised():
                return
            if self.path == "/v1/files":
                return self._upload()
            if self.path == "/v1/batches":
                return self._create(json.loads(self._body()))
            if self.path == "/v1/chat/completions":
                standin.chat_calls += 1
                return self._reply(400, {"error": {"message": "this stand-in answers batches only"}})
            self._reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_GET(self) -> None:
            if not self._authorised():
                return
            parts = self.path.strip("/").split("/")
            if parts[:2] == ["v1", "batches"] and parts[2] in standin.batches:
                return self._reply(200, standin.batches[parts[2]])
            if parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content" and parts[2] in standin.files:
                return self._reply(200, standin.files[parts[2]])
            self._reply(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def _upload(self) -> None:
            raw = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + self._body()
            parts = {
                p.get_param("name", header="content-disposition"): p
                for p in email.parser.BytesParser().parsebytes(raw).get_payload()
            }  # type: ignore[union-attr]
            content = parts["file"].get_payload(decode=True)
            file_id = standin.next_id("file")
            standin.files[file_id] = content
            self._reply(200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                              "filename": parts["file"].get_filename() or "batch.jsonl", "purpose": "batch",
                              "status": "processed"})  # fmt: skip

        def _create(self, body: dict[str, Any]) -> None:
            if body.get("input_file_id") not in standin.files:
                return self._reply(
                    400, {"error": {"message": "invalid input_file_id", "type": "invalid_request_error"}}
                )
            batch_id = standin.next_id("batch")
            standin.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "in_progress", "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "completed_at": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
            }  # fmt: skip
            self._reply(200, standin.batches[batch_id])
            threading.Thread(target=standin.run, args=(batch_id,), daemon=True).start()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
