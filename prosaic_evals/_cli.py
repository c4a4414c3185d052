"""The `prosaic-evals` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from prosaic_evals import __version__
from prosaic_evals._errors import Interrupted, UserError


def _pairs(option: str, values: Sequence[str]) -> dict[str, Any]:
    """`key=value` options as a dict; values parsed as YAML scalars (so 3 is an int)."""
    result: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{option} {item!r}: expected key=value")
        try:
            result[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            result[key] = value
    return result


def _console() -> Any:
    from rich.console import Console

    # Rich assumes 80 columns when output is not a terminal; tables need more.
    return Console() if sys.stdout.isatty() else Console(width=120)


def _split_models(values: Sequence[str]) -> list[str]:
    return [m.strip() for value in values for m in value.split(",") if m.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prosaic-evals")
def cli() -> None:
    """Behavioural experiments on language models, on inspect-ai."""


@cli.command()
@click.argument("tasks", nargs=-1, required=True)
@click.option(
    "--model", "-m", "models", multiple=True, help="Model(s) to evaluate (repeat or comma-separate). Default: local."
)
@click.option(
    "--model-base-url", help="Base URL for the model's API (openai-api/..., anthropic/... on a compatible server)."
)
@click.option(
    "-M",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Model argument, e.g. -M dtype=bfloat16 -M tensor_parallel_size=2.",
)
@click.option(
    "-T", "task_args", multiple=True, metavar="KEY=VALUE", help="Task override, e.g. -T seed=3 -T conditions=p2d_same."
)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N samples of each task.")
@click.option("--log-dir", default="logs", show_default=True, help="Where inspect .eval logs are written.")
@click.option("--no-cache", is_flag=True, help="Call the model even for requests answered before.")
@click.option("--max-connections", type=click.IntRange(min=1), help="Concurrent requests per model.")
@click.option(
    "--display", type=click.Choice(["full", "rich", "plain", "log", "none"]), help="inspect's progress display."
)
def run(
    tasks: tuple[str, ...], models: tuple[str, ...], model_base_url: str | None, model_args: tuple[str, ...],
    task_args: tuple[str, ...], limit: int | None, log_dir: str, no_cache: bool, max_connections: int | None,
    display: str | None,
) -> None:  # fmt: skip
    """Run TASK(s): shipped task names (see `prosaic-evals tasks`) or task files."""
    from prosaic_evals.run import RunOptions, render
    from prosaic_evals.run import run as run_tasks

    options = RunOptions(
        models=_split_models(models) or ["local"],
        base_url=model_base_url,
        model_args=_pairs("-M", model_args),
        task_args=_pairs("-T", task_args),
        limit=limit,
        log_dir=log_dir,
        cache=not no_cache,
        max_connections=max_connections,
        display=display,
    )
    result = run_tasks(tasks, options)
    console = _console()
    console.print(render(result.summary, result.frame))
    console.print(f"Logs: {Path(log_dir).resolve()}  (open with: inspect view --log-dir {log_dir})")


@cli.command("tasks")
def list_tasks() -> None:
    """List the shipped tasks."""
    from rich.table import Table

    from prosaic_evals.spec import load_task, shipped_task_names

    table = Table("task", "scorer", "conditions", "description")
    table.columns[0].no_wrap = True
    for name in shipped_task_names():
        task = load_task(name)
        table.add_row(name, task.spec.scorer.name, "\n".join(task.conditions), task.spec.description)
    _console().print(table)


@cli.command()
@click.argument("task")
@click.option("-T", "task_args", multiple=True, metavar="KEY=VALUE", help="Task override.")
@click.option("--split", type=click.Choice(["train", "eval"]), default="train", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="JSONL file (default: stdout).")
def data(task: str, task_args: tuple[str, ...], split: str, output: Path | None) -> None:
    """Write a task's generated training split (chat format) or evaluation items as JSONL."""
    from dataclasses import asdict

    from prosaic_evals.run import eval_items
    from prosaic_evals.spec import load_task

    loaded = load_task(task, _pairs("-T", task_args))
    if split == "train":
        records = loaded.family.train_records(loaded.params)
        if not records:
            raise UserError(f"task {loaded.name}: family {loaded.family.name} has no training split")
    else:
        records = [asdict(item) for item in eval_items(loaded)]
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if output is None:
        sys.stdout.write(lines)
        return
    tmp = output.with_name(output.name + ".tmp")  # write whole or not at all
    tmp.write_text(lines, encoding="utf-8")
    tmp.replace(output)
    click.echo(f"wrote {len(records)} {split} records to {output}", err=True)


@cli.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary as CSV."
)
def results(logs: tuple[Path, ...], csv_path: Path | None) -> None:
    """Summarise .eval logs (files or directories) without running anything."""
    from prosaic_evals.run import render, sample_frame, summarize

    files = [f for p in logs for f in (sorted(p.glob("*.eval")) if p.is_dir() else [p])]
    if not files:
        raise UserError(f"no .eval logs in {', '.join(map(str, logs))}")
    frame = sample_frame(files)
    summary = summarize(frame)
    _console().print(render(summary, frame))
    if csv_path:
        summary.to_csv(csv_path, index=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except UserError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except Interrupted as e:
        click.echo(str(e), err=True)
        sys.exit(130)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
