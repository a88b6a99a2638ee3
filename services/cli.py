"""The `twin` command line: replay traces, inspect traces, runs and the catalogue."""

from __future__ import annotations

import importlib
import os
import json
import sys
from dataclasses import dataclass

import click
from rich.console import Console

from services import render
from services.common.messages import one_line
from services.cli_options import context_warning, replay_options, run_spec, trace_options
from twin.errors import TwinError


@dataclass
class Ctx:
    console: Console
    db: str | None
    controller: str | None = None
    metrics: str | None = None
    catalog_folders: tuple[str, ...] = ()
    catalog_override: bool = False
    _catalog: object = None

    @property
    def catalog(self):
        """The package catalogue, TWIN_CATALOG_PATH and --catalog folders (built on first use)."""
        if self._catalog is None:
            from twin.catalog import Catalog, default_catalog
            default = default_catalog()  # without --catalog options it is the whole answer: parse it once
            self._catalog = default if not (self.catalog_folders or self.catalog_override) else \
                Catalog((*default.folders, *self.catalog_folders), override=self.catalog_override)
        return self._catalog


# Commands whose modules (gRPC services, the stack, quantization tools) load only when used,
# so that `twin replay` and `twin runs` start without them. Each with the first line of its help,
# which `twin --help` lists without importing the command (tests hold it equal to the command's).
LAZY_COMMANDS = {
    "serve": ("services.common.serve_cmd:serve",
              "Run one of the twin's gRPC services (health, reflection, auth via TWIN_AUTH_TOKEN, TLS)."),
    "up": ("services.up:up", "Start controller, metrics and cluster replicas as local processes, until Ctrl-C."),
    "quant": ("services.quant_cmd:quant", "KV-cache quantization: offline profiling, effective bits and error."),
    "catalog": ("services.catalog_cmd:catalog", "List, show, validate or import catalogue entries (package, "
                "--catalog folders, TWIN_CATALOG_PATH)."),
    "sweep": ("services.sweep_cmd:sweep",
              "Run TRACE at every point of a sweep and compare them (goodput, latency, J/token, mm²)."),
    "search": ("services.search_cmd:search",
               "Search the design space of TRACE's twin for the best designs (Optuna, shared through --db)."),
    "runs": ("services.runs_cmd:runs",
             "Stored runs: list, show, compare, export, delete, watch, cancel (ids: full or a unique prefix)."),
    "report": ("services.report:report", "Write an HTML report with plots of one or more runs (ids: full or "
               "unique prefixes), overlaid."),
    "validate": ("services.calibrate_cmd:validate",
                 "Replay each MEASURED run (its arrivals and lengths) and print measured against predicted."),
    "calibrate": ("services.calibrate_cmd:calibrate",
                  "Fit the named physical parameters to MEASURED runs and write them as a user catalogue in DIR."),
}


class TwinGroup(click.Group):
    """Domain errors (bad spec, unknown name, bad trace row, does not fit) become a one-line message."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists commands, but a command not loaded yet by its help line here, unimported."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][1])  # click's own shortening
                rows.append((name, stand_in.get_short_help_str(limit)))
            else:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TwinError as exc:
            from services.exits import from_twin
            raise from_twin(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # already one line, with its exit code
        except KeyboardInterrupt:
            # Ctrl-C outside a command's own handling (loading a command, reading a trace, start-up):
            # click would say "Aborted!" and exit 1; the scheme's code for an interrupt is 130.
            from services.exits import INTERRUPTED
            click.echo(err=True)  # end the line the terminal's ^C is on
            raise click.exceptions.Exit(INTERRUPTED) from None
        except Exception as exc:
            sql_errors = sys.modules.get("sqlalchemy.exc")  # loaded whenever this process used a database
            if sql_errors is not None and isinstance(exc, sql_errors.DBAPIError):  # e.g. a read-only file
                raise click.ClickException(one_line(exc)) from exc
            if os.environ.get("TWIN_DEBUG"):
                raise
            raise click.ClickException(internal_error(exc)) from exc  # a bug of ours: still one line


def main() -> None:
    """The `twin` command. TwinGroup.invoke turns a command's errors into one line; this turns into one line
    whatever escapes it (argument parsing, start-up, a background thread, exit), so no traceback reaches a
    user unless TWIN_DEBUG asks for it."""
    if not os.environ.get("TWIN_DEBUG"):
        import threading
        threading.excepthook = lambda args: click.echo(f"Error: {internal_error(args.exc_value)}", err=True)
    try:
        cli(obj=None)
    except Exception as exc:  # click itself exits by SystemExit; anything else is ours
        if os.environ.get("TWIN_DEBUG"):
            raise
        click.echo(f"Error: {internal_error(exc)}", err=True)
        sys.exit(1)


def internal_error(exc: BaseException | None) -> str:
    return (f"internal error ({type(exc).__name__}: {one_line(exc, 300)}); please report it, TWIN_DEBUG=1 shows "
            "the traceback")


@click.group(cls=TwinGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="TWIN_DATABASE_URL", default=None,
              help="Database URL for stored runs [env TWIN_DATABASE_URL; default sqlite:///twin.db].")
@click.option("--controller", envvar="TWIN_CONTROLLER", default=None,
              help="Run replays on this controller (host:port) instead of in-process [env TWIN_CONTROLLER].")
@click.option("--metrics", envvar="TWIN_METRICS", default=None,
              help="With --controller: the metrics service (host:port) [env TWIN_METRICS; default: "
                   "the controller's host, port + 1].")
@click.option("--catalog", "catalog_folders", multiple=True, type=click.Path(file_okay=False),
              help="A folder of user chips/, links/, servers/, models/ YAML files (repeatable) "
                   "[also env TWIN_CATALOG_PATH, separated like PATH].")
@click.option("--catalog-override", is_flag=True,
              help="Let --catalog entries replace package entries of the same name.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, controller: str | None, metrics: str | None,
        catalog_folders: tuple[str, ...], catalog_override: bool) -> None:
    """lpu-twin: a digital twin of an LLM-inference cluster of HyperAccel LPU chips."""
    ctx.obj = Ctx(Console(), db, controller, metrics, catalog_folders, catalog_override)


@cli.command()
@click.argument("trace")
@replay_options
@trace_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--watch", is_flag=True, help="With --controller: stream progress, then print the summary.")
@click.option("--trace-events", type=click.Path(dir_okay=False), default=None,
              help="With --fidelity layer: write chip/HBM/ESL/host activity as Chrome trace-event JSON "
                   "(open in Perfetto).")
@click.pass_obj
def replay(obj: Ctx, trace: str, as_json: bool, no_progress: bool, watch: bool, trace_events: str | None,
           **opts) -> None:
    """Replay TRACE (a built-in name, a file path or synthetic:...) on a simulated cluster."""
    if obj.controller:
        from services.controller.client import remote_replay_command
        sys.exit(remote_replay_command(obj.console, obj.controller, replay_spec(obj, opts), trace, opts, watch,
                                       as_json, obj.metrics))
    from services.store.rows import process_owner
    from services.store.writer import StoreWriter
    # The store's process first: its imports (SQLAlchemy) overlap building the twin's spec and reading the trace.
    with StoreWriter(obj.db, owner=process_owner("twin replay")) as store:
        spec = replay_spec(obj, opts)
        from services.replay_cmd import run_replay_command
        code = run_replay_command(obj.console, store, spec, trace, opts, as_json, no_progress, trace_events)
    sys.exit(code)


def replay_spec(obj: Ctx, opts: dict):
    """The RunSpec of the replay options; a warning line on stderr (so --json output stays parseable)
    when it serves requests past the model's trained context."""
    spec = run_spec(opts, obj.catalog)
    warning = context_warning(spec)
    if warning:
        click.echo(warning, err=True)
    return spec


@cli.group()
def trace() -> None:
    """Inspect traces."""


@trace.command("stats")
@click.argument("trace")
@trace_options
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def trace_stats_cmd(obj: Ctx, trace: str, as_json: bool, **opts) -> None:
    """Request count, span, mean rate and token percentiles of TRACE."""
    from services.cli_options import trace_options_from
    from services.limits import RunLimits
    from twin.traces import load_trace, trace_stats
    from twin.traces.prefix import prefix_reuse
    RunLimits.from_env().check_source(trace)  # as for a replay: a synthetic source is generated whole
    loaded = load_trace(trace, trace_options_from(opts))
    stats = trace_stats(loaded.requests).to_dict()
    stats["bad_rows_skipped"] = loaded.bad_rows
    reuse = prefix_reuse(loaded.requests)
    if reuse is not None:  # the infinite-cache bound on any replay's prefix hit rate
        stats["prefix_reuse_infinite_cache"] = {"block_hit_pct": 100 * reuse["block_hit_rate"],
                                                "token_hit_pct": 100 * reuse["token_hit_rate"],
                                                "blocks": reuse["blocks"], "hit_tokens": reuse["hit_tokens"]}
    if as_json:
        click.echo(json.dumps(stats, indent=2))
    else:
        obj.console.print(render.stats_table(loaded.name, stats))


if __name__ == "__main__":
    main()
