"""The `prosaic-evals` command line."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from prosaic_evals import __version__
from prosaic_evals._errors import Interrupted, UserError
from prosaic_evals.models._retry import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT


def _pairs(option: str, values: Sequence[str]) -> dict[str, Any]:
    """`key=value` options as a dict; values parsed as YAML scalars (so 3 is an int)."""
    result: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{option} {item!r}: expected key=value")
        try:
            result[key] = yaml.safe_load(value) if value else ""
        except (yaml.YAMLError, RecursionError):
            result[key] = value
        except ValueError:  # an integer beyond Python's int-string limit
            raise UserError(f"{option} {key}: the value has too many digits") from None
    return result


def _console() -> Any:
    from rich.console import Console

    # Rich assumes 80 columns when output is not a terminal; tables need more.
    return Console() if sys.stdout.isatty() else Console(width=150)


def _split_models(values: Sequence[str]) -> list[str]:
    return [m.strip() for value in values for m in value.split(",") if m.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prosaic-evals")
def cli() -> None:
    """Behavioural experiments on language models, on inspect-ai."""


spend_options = [
    click.option("--batch", is_flag=True,
                 help="Send API models' requests through their provider's batch API (OpenAI, Anthropic): "
                      "about half the price, results within hours."),
    click.option("--prices", type=click.Path(dir_okay=False, path_type=Path),
                 help="YAML of model: {input, output} USD per million tokens, over the shipped table."),
    click.option("--yes", "-y", "assume_yes", is_flag=True,
                 help="Do not ask before calling a priced API model (for scripts)."),
]  # fmt: skip


def spend_option_group(command: Any) -> Any:
    for option in reversed(spend_options):
        command = option(command)
    return command


def confirm_spend(assume_yes: bool) -> Any:
    """The question asked with a cost estimate: none with --yes; refused when there is no terminal to ask."""

    def ask(text: str) -> bool:
        if assume_yes:
            return True
        if not sys.stdin.isatty():
            raise UserError("this run calls a priced API model and there is no terminal to ask: pass --yes to go ahead")
        return click.confirm("Go ahead?", default=False, err=True)

    return ask


def run_options(command: Any) -> Any:
    """The options `run` and `compare` share."""
    options = [
        click.option("--model", "-m", "models", multiple=True,
                     help="Model(s) to evaluate (repeat or comma-separate). Default: local."),
        click.option("--model-base-url",
                     help="Base URL for the model's API (openai-api/..., anthropic/... on a compatible server)."),
        click.option("-M", "model_args", multiple=True, metavar="KEY=VALUE",
                     help="Model argument, e.g. -M dtype=bfloat16 -M tensor_parallel_size=2."),
        click.option("-T", "task_args", multiple=True, metavar="KEY=VALUE",
                     help="Task override, e.g. -T seed=3 -T conditions=p2d_same."),
        click.option("--model-role", "model_roles", multiple=True, metavar="ROLE=MODEL",
                     help="Another model a task uses, e.g. --model-role judge=anthropic/claude-sonnet-4-5."),
        click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N samples of each task."),
        click.option("--log-dir", default="logs", show_default=True, help="Where inspect .eval logs are written."),
        click.option("--no-cache", is_flag=True, help="Call the model even for requests answered before."),
        click.option("--max-connections", type=click.IntRange(min=1), help="Concurrent requests per model."),
        click.option("--display", type=click.Choice(["full", "rich", "plain", "log", "none"]),
                     help="inspect's progress display."),
        click.option("--live", is_flag=True,
                     help="Log each sample's events as they happen, for `inspect view` during the run (costs CPU)."),
        click.option("--max-retries", type=click.IntRange(min=0), default=DEFAULT_MAX_RETRIES, show_default=True,
                     help="Retries of a failing request (HTTP 429/5xx, a dropped connection) before the run fails."),
        click.option("--timeout", type=click.IntRange(min=1), default=DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds a request may take across all its retries before the run fails."),
        *spend_options,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _run_options(models: tuple[str, ...], default: list[str], given: dict[str, Any]) -> Any:
    from prosaic_evals.run import RunOptions

    return RunOptions(
        models=_split_models(models) or default,
        base_url=given["model_base_url"],
        model_args=_pairs("-M", given["model_args"]),
        task_args=_pairs("-T", given["task_args"]),
        limit=given["limit"],
        log_dir=given["log_dir"],
        cache=not given["no_cache"],
        max_connections=given["max_connections"],
        display=given["display"],
        live=given["live"],
        model_roles={role: str(ref) for role, ref in _pairs("--model-role", given["model_roles"]).items()},
        max_retries=given["max_retries"],
        timeout=given["timeout"],
        batch=given["batch"],
        prices=given["prices"],
        confirm=confirm_spend(given["assume_yes"]),
    )


@cli.command()
@click.argument("tasks", nargs=-1, required=True)
@run_options
def run(tasks: tuple[str, ...], models: tuple[str, ...], **given: Any) -> None:
    """Run TASK(s): shipped task names (see `prosaic-evals tasks`) or task files."""
    from prosaic_evals.run import render
    from prosaic_evals.run import run as run_tasks

    result = run_tasks(tasks, _run_options(models, ["local"], given))
    console = _console()
    console.print(render(result.summary, result.frame, kept=result.kept))
    console.print(f"Logs: {Path(given['log_dir']).resolve()}  (open with: inspect view --log-dir {given['log_dir']})")


@cli.command()
@click.argument("tasks", nargs=-1)
@run_options
@click.option(
    "--logs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Compare these .eval logs (files or folders) instead of running tasks.",
)
@click.option("--baseline", help="The model the others are compared with (default: the first).")
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh", "none"]),
    default="holm",
    show_default=True,
    help="Multiple-comparison correction across all comparisons.",
)
@click.option(
    "--margin",
    "margins",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Equivalence margin for a metric (repeatable): adds a TOST and a verdict to each of its comparisons. "
    "VALUE is in the metric's units, or 'P% of CONDITION': that share of the same models' difference in a "
    "positive-control condition. Default: the task files' margins.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write scores.csv, comparison.csv, comparison.json and samples.csv here.",
)
def compare(
    tasks: tuple[str, ...], models: tuple[str, ...], logs: tuple[Path, ...], baseline: str | None, correction: str,
    margins: tuple[str, ...], output: Path | None, **given: Any,
) -> None:  # fmt: skip
    """Compare models on identical items: run TASK(s) on each --model, or read --logs (--model picks among them)."""
    from prosaic_evals.run import compare_frame, render_comparison, run, sample_frame, write_outputs
    from prosaic_evals.run._compare import parse_margins

    margin_of = parse_margins(margins)

    if logs and tasks:
        raise UserError("give TASKS to run or --logs to read, not both")
    if logs:
        from prosaic_evals.run._results import partial_notes

        files = _eval_files(logs)
        frame = sample_frame(files)  # --model then picks which of the logged models to compare
        for note in partial_notes(files, frame):
            click.echo(f"warning: {note}", err=True)
    elif not tasks:
        raise UserError("nothing to compare: give TASKS with two or more --model, or --logs")
    else:
        options = _run_options(models, [], given)
        if len(options.models) < 2:
            raise UserError("comparing needs two or more --model")
        frame = run(tasks, options).frame
    only = list(models) if logs else None
    comparison = compare_frame(frame, baseline=baseline, correction=correction, only=only, margins=margin_of)
    _console().print(render_comparison(comparison))
    if output is not None:
        for path in write_outputs(comparison, output):
            click.echo(f"wrote {path}")


def _eval_files(paths: Sequence[Path]) -> list[Path]:
    """The .eval logs in `paths` (files or folders), without those superseded by a retry (with a warning)."""
    from prosaic_evals.run._results import current_logs

    files = [f for p in paths for f in (sorted(p.glob("*.eval")) if p.is_dir() else [p])]
    if not files:
        raise UserError(f"no .eval logs in {', '.join(map(str, paths))}")
    current, notes = current_logs(files)
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    return current


@cli.command()
@click.argument("model", default="local")
@click.option(
    "-M",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Server option, e.g. -M max_model_len=4096 -M kv_cache_gib=4 (as for run).",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (default: a free one).")
def serve(model: str, model_args: tuple[str, ...], port: int | None) -> None:
    """Start a managed vLLM server for MODEL (local, vllm/<model>, variant/<name>) until Ctrl-C.

    Prints its URL and where its API key is, for `run --model URL` from other shells or machines' tunnels.
    """
    from prosaic_evals.models._serve import serve as serve_model

    options = _pairs("-M", model_args) | ({"port": port} if port else {})
    serve_model(model, options, say=lambda message: click.echo(message, err=True))


@cli.command("tasks")
def list_tasks() -> None:
    """List the shipped tasks and the families (built-in and from plugin packages)."""
    from rich.table import Table

    from prosaic_evals.families import FAMILIES, plugin_families
    from prosaic_evals.spec import load_task, shipped_task_names

    table = Table("task", "scorer", "conditions", "description")
    table.columns[0].no_wrap = True
    for name in shipped_task_names():
        task = load_task(name)
        table.add_row(name, task.spec.scorer.name, "\n".join(task.conditions), task.spec.description)
    _console().print(table)
    families = Table("family", "from", "scorers", "citation")
    families.columns[0].no_wrap = True
    plugins = plugin_families()
    for name, family in sorted({**FAMILIES, **{n: f for n, (f, _) in plugins.items()}}.items()):
        source = f"plugin {plugins[name][1]}" if name in plugins else "built-in"
        families.add_row(name, source, ", ".join(sorted(family.scorers)), family.citation)
    _console().print(families)


@cli.command()
@click.argument("task")
@click.option("-T", "task_args", multiple=True, metavar="KEY=VALUE", help="Task override.")
@click.option("--split", type=click.Choice(["train", "eval"]), default="train", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Output file or folder (default: JSONL on stdout)."
)
@click.option("--format", "kind", type=click.Choice(["jsonl", "parquet", "datasets"]),
              help="Default: .parquet by the file name, else JSONL; datasets: a save_to_disk folder.")  # fmt: skip
@click.option("--prompt-completion", "pairs", is_flag=True,
              help="Training split as prompt/completion pairs (each user turn and the assistant's reply).")  # fmt: skip
def data(task: str, task_args: tuple[str, ...], split: str, output: Path | None, kind: str | None, pairs: bool) -> None:
    """Write a task's training split or evaluation items as JSONL, Parquet or a datasets folder
    (the evaluation items read back by the from_file family give the same samples)."""
    from prosaic_evals.run import export_records, write_records
    from prosaic_evals.spec import load_task

    if pairs and split != "train":
        raise UserError("--prompt-completion applies to --split train")
    loaded = load_task(task, _pairs("-T", task_args))
    records = export_records(loaded, split, pairs=pairs)
    kind = kind or ("parquet" if output is not None and output.suffix == ".parquet" else "jsonl")
    if output is None:
        if kind != "jsonl":
            raise UserError(f"--format {kind}: give -o PATH (only JSONL goes to stdout)")
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        return
    write_records(records, output, kind)
    click.echo(f"wrote {len(records)} {split} records to {output} ({kind})", err=True)


@cli.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary as CSV."
)
@click.option(
    "--samples",
    "samples_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-sample rows behind the summary as CSV.",
)
def results(logs: tuple[Path, ...], csv_path: Path | None, samples_path: Path | None) -> None:
    """Summarise .eval logs (files or directories) without running anything."""
    from prosaic_evals.run import render, sample_frame, summarize
    from prosaic_evals.run._results import partial_notes

    files = _eval_files(logs)
    frame = sample_frame(files)
    summary = summarize(frame)
    _console().print(render(summary, frame, partial_notes(files, frame)))
    if csv_path:
        summary.to_csv(csv_path, index=False)
    if samples_path:
        frame.to_csv(samples_path, index=False)


@cli.command("finetune")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
def finetune_command(spec: Path) -> None:
    """Train the variant a fine-tune SPEC describes, or reuse it if an identical one exists."""
    from prosaic_evals.finetune import finetune, load_finetune_spec

    if not spec.is_file():
        raise UserError(f"fine-tune spec not found: {spec}")
    variant = finetune(load_finetune_spec(spec), relative_to=spec.parent)
    where = variant.remote_id or variant.path
    click.echo(f"{variant.name}: {variant.status} ({where}); evaluate it with --model variant/{variant.name}")


@cli.group("new")
def new_group() -> None:
    """Start something of your own from a skeleton that passes its own tests."""


@new_group.command("family")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to create the package in.")  # fmt: skip
def new_family_command(name: str, output: Path) -> None:
    """Write a plugin package for a new family NAME: the family module, a task file, tests, a README."""
    from prosaic_evals.families._new import new_family

    target = new_family(name, output)
    click.echo(f"wrote {target}: edit {target.name}'s items, then `python -m pytest {target / 'tests'}` "
               f"and `prosaic-evals run {target / 'tasks' / f'{name}.yaml'} --model local`")  # fmt: skip


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(context: click.Context) -> None:
    """List the registered variants (subcommands: show, remove)."""
    if context.invoked_subcommand is not None:
        return
    from rich.table import Table

    from prosaic_evals.finetune import Registry

    variants = Registry().variants()
    if not variants:
        click.echo("No variants yet: prosaic-evals finetune SPEC creates one.")
        return
    table = Table("name", "status", "base", "backend", "method", "identity", "data", "seed", "final loss", "created")
    for v in variants:
        loss = v.metrics.get("final_loss")
        table.add_row(
            v.name, v.status, v.base, v.backend, v.method, v.identity, v.data_hash, str(v.seed),
            f"{loss:.3f}" if isinstance(loss, float) else "", v.created,
        )  # fmt: skip
    _console().print(table)


@models_group.command("show")
@click.argument("name")
def models_show(name: str) -> None:
    """Everything recorded about one variant, as JSON."""
    from prosaic_evals.finetune import Registry

    click.echo(json.dumps(Registry().get(name).model_dump(mode="json"), indent=2))


@models_group.command("remove")
@click.argument("name")
@click.option("--delete-files", is_flag=True, help="Also delete the variant's folder (adapter, weights, logs).")
def models_remove(name: str, delete_files: bool) -> None:
    """Remove a variant from the registry."""
    from prosaic_evals.finetune import Registry

    variant = Registry().remove(name, delete_files=delete_files)
    kept = f"; its files stay in {variant.path}" if variant.path and not delete_files else ""
    click.echo(f"removed {name}{kept}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", "show_status", is_flag=True, help="Print the state of every cell and run nothing.")
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    help="Run the jobs here one after another (local) or as Ray tasks (default: the file's, else local).",
)
@click.option(
    "--ray-address",
    metavar="HOST:PORT",
    help="An existing Ray cluster's head (default: the file's ray.address, else a local cluster).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder (default: the file's `output`, relative to the file).",
)
@spend_option_group
def study(file: Path, show_status: bool, executor: str | None, ray_address: str | None, output: Path | None,
          batch: bool, prices: Path | None, assume_yes: bool) -> None:  # fmt: skip
    """Run a study FILE: fine-tune, evaluate base and variant on identical items, compare, write results.

    A file that lists bases, seeds or recipes is a matrix: each cell is fine-tuned and evaluated, a
    re-run finishes only the cells not done, and the differences are pooled over seeds (pooled.csv).
    """
    from prosaic_evals.run import render_comparison
    from prosaic_evals.study import run_study
    from prosaic_evals.study._study import status

    if not file.is_file():
        raise UserError(f"study file not found: {file}")
    if show_status:
        for cell in status(file, output):
            click.echo(f"{cell['cell']}: {cell['state']}" + (f" ({cell['error']})" if cell.get("error") else ""))
        return
    spend = {"batch": batch, "prices": prices, "assume_yes": assume_yes, "confirm": confirm_spend(assume_yes)}
    _, comparison, output = run_study(file, executor=executor, ray_address=ray_address, output=output, spend=spend)
    if (output / "pooled.csv").is_file():
        from prosaic_evals.study._matrix import render_pooled

        _console().print(render_pooled(output / "pooled.csv"))
        click.echo(f"Results: {output} (study.json, pooled.csv, cells/<cell>/: comparison, samples, cell.log; logs/)")
        states = status(file, output)
        failed = [c["cell"] for c in states if c["state"] == "failed"]
        if failed:  # the others finished; a script must still notice
            click.echo(f"{len(failed)} of {len(states)} cells failed ({', '.join(failed)}): see --status", err=True)
            raise SystemExit(1)
        return
    _console().print(render_comparison(comparison))
    click.echo(f"Results: {output} (study.json, comparison.csv/.json, scores.csv, samples.csv, logs/)")


def _ints(value: str | None) -> list[int] | None:
    if value is None or value == "all":
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--layers: {value!r} is not a comma-separated list of layer numbers (or all)") from None


@cli.command()
@click.argument("target")
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="Local model(s): local, a directory, variant/<name>. "
    "The first is the baseline the others are compared with. Default: the probe file's, else local.",
)
@click.option(
    "-T",
    "task_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Parameter of the task the items come from, e.g. -T facts_per_subset=10.",
)
@click.option("--layers", help="Comma-separated layers (0 = embeddings), or all (default).")
@click.option("--positions", help="Comma-separated positions: last, end, entity:<field> (default: the question's).")
@click.option("--probe", "probes", multiple=True, help="logistic and/or mass_mean (default: both).")
@click.option(
    "--control",
    "controls",
    multiple=True,
    help="shuffled, control_task, random_init (default: all three); --control none for none.",
)
@click.option("--folds", type=click.IntRange(min=2), help="Grouped cross-validation folds (default 5).")
@click.option("--seed", type=int, help="Folds, controls and bootstrap seed (default 0).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: logs/probes/<name>-<time>).")  # fmt: skip
def probe(target: str, models: tuple[str, ...], task_args: tuple[str, ...], layers: str | None,
          positions: str | None, probes: tuple[str, ...], controls: tuple[str, ...], folds: int | None,
          seed: int | None, output: Path | None) -> None:  # fmt: skip
    """Linear probes on local weights: TARGET is a probe file or a task (its family's built-in question).

    Writes results.csv (accuracy, AUROC, intervals, p, BH per layer), comparison.csv (each model
    against the first), predictions.parquet (per item), probe.json and score_by_layer.png/.pdf.
    """
    from prosaic_evals._paths import check_output_folder
    from prosaic_evals.probes import load_job, render_probe, run_probe

    chosen = [c for c in _split_models(controls) if c != "none"] if controls else None
    job = load_job(target, {
        "models": _split_models(models), "layers": _ints(layers), "probes": _split_models(probes),
        "positions": _split_models([positions]) if positions else None, "folds": folds, "seed": seed,
    }, parameters=_pairs("-T", task_args))  # fmt: skip
    if chosen is not None:
        job.controls = chosen
    output = output or Path("logs") / "probes" / f"{job.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_output_folder(output, "probe.json")  # before any work
    result = run_probe(job, output, say=lambda message: click.echo(message, err=True))
    _console().print(render_probe(result))
    click.echo(f"Results: {result.output} (results.csv, comparison.csv, predictions.parquet, probe.json, figures)")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Report folder (replaced whole when the report is written).",
)
@click.option("--title", help="Report title (default: from the study, else 'Evaluation report').")
@click.option("--baseline", help="The model the others are compared with (default: the study's or the first).")
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh", "none"]),
    help="Multiple-comparison correction (default: the study's or comparison's, else holm).",
)
@click.option(
    "--effect",
    type=click.FloatRange(min=0, min_open=True),
    default=0.10,
    show_default=True,
    help="Difference on binary metrics for which the n needed (80% power) is given.",
)
@click.option("--effect-dz", type=click.FloatRange(min=0, min_open=True), default=0.2, show_default=True,
              help="Standardized difference (Cohen's dz) on continuous metrics for the n needed.")  # fmt: skip
@click.option("--margin", "margins", multiple=True, metavar="METRIC=VALUE",
              help="Equivalence margin for a metric: a value or 'P% of CONDITION' (repeatable; default: the "
                   "study's or comparison's margins, else the task files').")  # fmt: skip
def report(inputs: tuple[Path, ...], output: Path, title: str | None, baseline: str | None, correction: str | None,
           effect: float, effect_dz: float, margins: tuple[str, ...]) -> None:  # fmt: skip
    """A paper-ready report from INPUTS: .eval logs, a study, comparison or probe results folder.

    Writes report.md, report.html (self-contained), tables.tex (booktabs), figures (PNG, PDF),
    results.csv/.json (every number, with its logs and sample ids) and samples.parquet.
    """
    from prosaic_evals._paths import check_output_folder

    check_output_folder(output, "report.md")  # before any work, and before the heavy imports

    from prosaic_evals.report import ReportOptions, build_report, gather, write_report
    from prosaic_evals.run._compare import parse_margins

    options = ReportOptions(title, baseline, correction, effect, effect_dz, parse_margins(margins))
    built = build_report(gather(list(inputs)), options, say=lambda message: click.echo(message, err=True))
    for warning in built.warnings:
        click.echo(f"warning: {warning}", err=True)
    files = write_report(built, output)
    click.echo(f"Report: {output} ({', '.join(files)})")


_stopped_by: list[int] = []


def _stop_like_ctrl_c(signum: int, frame: Any) -> None:
    """SIGTERM and SIGHUP take the Ctrl-C path: inspect cancels the run and writes its logs as cancelled."""
    _stopped_by.append(signum)
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        raise KeyboardInterrupt  # Ctrl-C is ignored here (a background job): stop directly
    signal.raise_signal(signal.SIGINT)


def _interrupted(message: str) -> None:
    """`interrupted by SIGTERM; ...` on stderr, and exit 128 + the signal's number (130 for Ctrl-C)."""
    signum = _stopped_by[0] if _stopped_by else signal.SIGINT
    rest = message.removeprefix("interrupted").lstrip(";, ")
    click.echo(f"interrupted by {signal.Signals(signum).name}" + (f"; {rest}" if rest else ""), err=True)
    sys.exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2; a signal, exit 128 + its number."""
    _stopped_by.clear()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _stop_like_ctrl_c)
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except UserError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except Interrupted as e:
        _interrupted(str(e))
    except (click.exceptions.Abort, KeyboardInterrupt):
        _interrupted("")
    finally:  # called as a function (tests, notebooks): the caller's handlers again
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    main()
