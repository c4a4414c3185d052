"""Fine-tuning through the OpenAI API: upload, create the job, poll with backoff.

The job id is recorded in the registry (status `pending`) before polling starts,
so a restarted process resumes polling the same job instead of starting another.
The real API is not reachable from this project's CI: the tests run this code,
with the real `openai` SDK, against a local server implementing the documented
endpoints (tests/finetune/openai_standin.py).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prosaic_evals._errors import UserError
from prosaic_evals.finetune._data import write_jsonl
from prosaic_evals.finetune._spec import FineTuneSpec

DONE = {"succeeded", "failed", "cancelled"}
MIN_EXAMPLES = 10
"""The API refuses smaller training files; say so before uploading."""


def client() -> Any:
    import openai

    try:
        return openai.OpenAI()  # OPENAI_API_KEY, and OPENAI_BASE_URL if set
    except openai.OpenAIError as e:
        raise UserError(f"the openai backend needs OPENAI_API_KEY ({e})") from None


def start_job(spec: FineTuneSpec, records: list[dict[str, Any]]) -> tuple[str, str]:
    """Upload the data and create the job; return (job id, file id)."""
    if len(records) < MIN_EXAMPLES:
        raise UserError(f"OpenAI fine-tuning needs at least {MIN_EXAMPLES} training records, got {len(records)}")
    api = client()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{spec.name}.jsonl"
        write_jsonl([{"messages": r["messages"]} for r in records], path)
        with path.open("rb") as f:
            uploaded = api.files.create(file=f, purpose="fine-tune")
    hp = spec.hyperparameters
    hyperparameters: dict[str, Any] = {"n_epochs": hp.epochs, "batch_size": hp.batch_size}
    if hp.learning_rate_multiplier is not None:
        hyperparameters["learning_rate_multiplier"] = hp.learning_rate_multiplier
    job = api.fine_tuning.jobs.create(
        model=spec.base,
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        seed=spec.seed,
        suffix=spec.name[:64],
    )
    return str(job.id), str(uploaded.id)


def wait_for_job(
    job_id: str,
    progress: Callable[[str], None],
    *,
    first_wait: float = 5.0,
    max_wait: float = 60.0,
    timeout: float = 24 * 3600,
) -> Any:
    """Poll until the job is done, waiting longer between polls (x1.5, up to `max_wait`)."""
    api = client()
    wait, began, status = first_wait, time.monotonic(), None
    while True:
        job = api.fine_tuning.jobs.retrieve(job_id)
        if job.status != status:
            status = job.status
            progress(f"  OpenAI job {job_id}: {status}")
        if job.status in DONE:
            return job
        if time.monotonic() - began > timeout:
            hours = timeout / 3600
            raise UserError(
                f"OpenAI job {job_id} not done after {hours:.0f} h; run the same command again to keep waiting"
            )
        time.sleep(wait)
        wait = min(wait * 1.5, max_wait)
