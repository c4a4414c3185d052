"""A local stand-in for the OpenAI fine-tuning API (the real one is unreachable from CI).

Implements the documented endpoints the backend uses, with the documented
response shapes: POST /v1/files (multipart upload), POST /v1/fine_tuning/jobs,
GET /v1/fine_tuning/jobs/{id} (status moves validating_files -> queued ->
running -> the scripted outcome) and POST /v1/fine_tuning/jobs/{id}/cancel.
It records every request so tests can check what was sent.
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

API_KEY = "sk-standin"


@dataclass
class StandIn:
    outcome: str = "succeeded"
    """What a job ends as: succeeded, failed or cancelled."""

    polls_until_done: int = 3
    files: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_requests: list[dict[str, Any]] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    _ids: Any = field(default_factory=itertools.count)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-standin{next(self._ids)}"


def serve(standin: StandIn) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in on a free loopback port; returns (server, base URL ending in /v1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
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
            if self.path == "/v1/fine_tuning/jobs":
                return self._create(json.loads(self._body()))
            if self.path.startswith("/v1/fine_tuning/jobs/") and self.path.endswith("/cancel"):
                job = standin.jobs[self.path.split("/")[4]]
                job["status"] = "cancelled"
                return self._reply(200, job)
            self._reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_GET(self) -> None:
            if not self._authorised():
                return
            job_id = self.path.rsplit("/", 1)[-1]
            if not self.path.startswith("/v1/fine_tuning/jobs/") or job_id not in standin.jobs:
                return self._reply(404, {"error": {"message": f"no job {job_id}", "type": "invalid_request_error"}})
            self._reply(200, advance(standin, job_id))

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
                              "filename": parts["file"].get_filename(), "purpose": "fine-tune", "status": "processed"})  # fmt: skip

        def _create(self, body: dict[str, Any]) -> None:
            if body.get("training_file") not in standin.files:
                return self._reply(
                    400, {"error": {"message": "invalid training_file", "type": "invalid_request_error"}}
                )
            standin.job_requests.append(body)
            hyper = body.get("method", {}).get("supervised", {}).get("hyperparameters", {})
            job_id = standin.next_id("ftjob")
            standin.jobs[job_id] = {
                "id": job_id, "object": "fine_tuning.job", "model": body["model"], "created_at": int(time.time()),
                "status": "validating_files", "training_file": body["training_file"], "validation_file": None,
                "hyperparameters": hyper, "method": body.get("method"), "fine_tuned_model": None, "finished_at": None,
                "organization_id": "org-standin", "result_files": [], "seed": body.get("seed", 0),
                "trained_tokens": None, "error": None, "suffix": body.get("suffix"),
            }  # fmt: skip
            self._reply(200, standin.jobs[job_id])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def advance(standin: StandIn, job_id: str) -> dict[str, Any]:
    """Each poll moves a job one step, ending in the scripted outcome."""
    job = standin.jobs[job_id]
    standin.polls[job_id] = polls = standin.polls.get(job_id, 0) + 1
    if job["status"] in ("succeeded", "failed", "cancelled"):
        return job
    if polls < standin.polls_until_done:
        job["status"] = ["queued", "running"][min(polls - 1, 1)]
        return job
    job["status"], job["finished_at"] = standin.outcome, int(time.time())
    if standin.outcome == "succeeded":
        job["fine_tuned_model"] = f"ft:{job['model']}:standin::{job['suffix']}"
        job["trained_tokens"] = 1234
    elif standin.outcome == "failed":
        job["error"] = {
            "code": "invalid_training_file",
            "message": "The job failed due to an invalid training file.",
            "param": "training_file",
        }
    return job
