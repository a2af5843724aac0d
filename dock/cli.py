"""The `dock` subcommands: adding, listing and steering jobs from a shell (no Qt imported)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from worker import __version__
from worker.registry import load_registry
from worker.store import DEFAULT_MAX_ATTEMPTS, Store
from worker.store.errors import DockError
from worker.store.rows import Job, iso
from worker.store.states import Action, JobStatus
from worker.uploads import discard, prepare

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
ACTOR = "cli"  # who the history says did what this command line did
MAX_ATTEMPTS = 10_000


def escaped(text: str) -> str:
    """Control characters and undecodable bytes shown as escapes, so a name can never garble a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _digits(text: str) -> int | None:
    """The number written in ASCII digits, or None: Python's int() also reads '١٢' and '１２', which no
    script means as an id."""
    return int(text) if text.isascii() and text.isdigit() else None


def _job_id(text: str) -> int:
    """A job id, '42' or '#42'. One too large for any job is still an id: the store says it does not exist."""
    value = _digits(text.removeprefix("#"))
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a number such as 42 or #42)")
    return value


def _attempts(text: str) -> int:
    value = _digits(text)
    if value is None or not 1 <= value <= MAX_ATTEMPTS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_ATTEMPTS:,}, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dock", description="Processing Dock: a local job dock.")
    parser.add_argument("--data-dir", metavar="DIR", help="the data folder (default: $DOCK_DATA_DIR or the "
                                                            "platform's user data folder)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    add = sub.add_parser("add", help="copy files into the dock, one job per file; prints each new id")
    add.add_argument("files", nargs="+", metavar="FILE")
    add.add_argument("--handler", metavar="NAME", help="the handler to use (default: chosen by content)")
    add.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE")
    add.add_argument("--max-attempts", type=_attempts, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                     help=f"attempts before the job fails (default {DEFAULT_MAX_ATTEMPTS})")

    ls = sub.add_parser("ls", help="list jobs, newest first")
    ls.add_argument("--status", choices=[s.value for s in JobStatus])
    ls.add_argument("--search", metavar="TEXT", help="match file name, handler or id")
    ls.add_argument("--json", action="store_true")

    show = sub.add_parser("show", help="one job in full, with its history")
    show.add_argument("id", type=_job_id)
    show.add_argument("--json", action="store_true")
    show.add_argument("--log", action="store_true", help="print the job's log instead")

    for name, text in (("cancel", "cancel jobs"), ("delete", "Cancel & Delete, or remove a finished job"),
                       ("fail", "Force Fail: a failed attempt, then the retry policy"),
                       ("retry", "queue failed or cancelled jobs again")):
        action = sub.add_parser(name, help=f"{text} (an id given twice is acted on once)")
        action.add_argument("ids", nargs="+", type=_job_id, metavar="ID")
        if name == "retry":
            action.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                                help="set or change a parameter for the new attempts (e.g. password=...)")

    workers = sub.add_parser("workers", help="the live workers, each judged by its own lease")
    workers.add_argument("--json", action="store_true")

    handlers = sub.add_parser("handlers", help="list the handlers and the plugins that failed to load")
    handlers.add_argument("--json", action="store_true")
    return parser


def cmd_add(store: Store, args: argparse.Namespace) -> int:
    registry = load_registry()
    if args.handler and registry.get(args.handler) is None:
        print(f"dock: no handler named {args.handler!r}; `dock handlers` lists them", file=sys.stderr)
        return EXIT_USAGE
    new_jobs, refused = prepare(store.data, args.files, registry, args.handler, dict(args.param),
                                args.max_attempts)
    try:
        ids = store.add(new_jobs, actor=ACTOR)
    except BaseException:
        discard(new_jobs)
        raise
    for job_id in ids:
        print(job_id)
    for refusal in refused:
        print(f"dock: {refusal}", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def cmd_ls(store: Store, args: argparse.Namespace) -> int:
    found = store.list_jobs(status=args.status, search=args.search)
    if args.json:
        print(json.dumps([job.to_json() for job in found], indent=2))
        return EXIT_OK
    print(f"{'ID':>6}  {'STATUS':<9} {'PROG':>4}  {'TRIES':<5} {'HANDLER':<10} {'CREATED':<19}  FILE")
    for job in found:
        tries = f"{job.attempts}/{job.max_attempts}"
        print(f"{job.id:>6}  {job.status.value:<9} {job.progress:>3}%  {tries:<5} {job.handler:<10} "
              f"{_when(job.created_at):<19}  {escaped(job.filename)}")
    return EXIT_OK


def cmd_show(store: Store, args: argparse.Namespace) -> int:
    job = store.get(args.id)
    if args.log:
        log = store.data.job_log(job.id)
        sys.stdout.write(log.read_text(errors="replace") if log.exists() else "")
        return EXIT_OK
    events = store.history(job.id)
    if args.json:
        print(json.dumps({**job.to_json(), "history": [e.to_json() for e in events]}, indent=2))
        return EXIT_OK
    print(render_job(job))
    print("history:")
    for e in events:
        print(f"  {_when(e.at)}  {e.from_status or '-':>9} -> {e.to_status:<9} by {e.actor}: {escaped(e.reason)}")
    return EXIT_OK


def render_job(job: Job) -> str:
    data: dict[str, Any] = job.to_json()
    lines = [f"job {job.id}: {escaped(job.filename)}"]
    for key in ("status", "handler", "progress", "message", "attempts", "max_attempts", "params", "created_at",
                "started_at", "finished_at", "run_after", "cancelled_at", "cancelled_by", "worker", "error",
                "result"):
        value = data[key]
        if value not in (None, "", {}):
            lines.append(f"  {key + ':':<14}{escaped(value) if isinstance(value, str) else json.dumps(value)}")
    if job.traceback:
        lines.append("  traceback:\n    " + job.traceback.rstrip().replace("\n", "\n    "))
    return "\n".join(lines)


def cmd_action(store: Store, args: argparse.Namespace) -> int:
    action = {"cancel": Action.CANCEL, "delete": Action.DELETE, "fail": Action.FAIL, "retry": Action.RETRY}
    params = dict(getattr(args, "param", []) or []) or None
    outcomes = store.apply(action[args.command], args.ids, by=ACTOR, params=params)
    for outcome in outcomes:
        print(outcome.message if outcome.ok else f"dock: {outcome.message}",
              file=sys.stdout if outcome.ok else sys.stderr)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_REFUSED


def cmd_handlers(args: argparse.Namespace) -> int:
    registry = load_registry()
    if args.json:
        print(json.dumps({"handlers": [s.to_json() for s in registry.handlers.values()],
                          "errors": registry.errors}, indent=2))
        return EXIT_OK
    for spec in registry.handlers.values():
        exts = " ".join(spec.extensions) or "-"
        print(f"{spec.name:<10} {spec.source:<30} {exts:<28} {spec.description}")
    for name, error in registry.errors.items():
        print(f"dock: plugin {name!r} failed to load: {error}", file=sys.stderr)
    return EXIT_OK


def cmd_workers(store: Store, args: argparse.Namespace) -> int:
    found = store.live_workers()
    if args.json:
        print(json.dumps([{**asdict(w), "started_at": iso(w.started_at), "heartbeat_at": iso(w.heartbeat_at)}
                          for w in found], indent=2))
        return EXIT_OK
    if not found:
        print("no live workers: jobs wait until one starts (dock-worker, or Worker > Start Worker)")
    for w in found:
        print(f"{w.id}  pid {w.pid} on {escaped(w.host)}  {w.concurrency} slots  lease {w.lease_s:g} s  "
              f"grace {w.grace_s:g} s  since {_when(w.started_at)}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[Store, argparse.Namespace], int]] = {
    "add": cmd_add, "ls": cmd_ls, "show": cmd_show, "workers": cmd_workers,
    "cancel": cmd_action, "delete": cmd_action, "fail": cmd_action, "retry": cmd_action,
}


def run(args: argparse.Namespace) -> int:
    """Run the subcommand `args` names; the window is dock.main's business, so nothing here imports Qt."""
    try:
        if args.command == "handlers":
            return cmd_handlers(args)
        with Store(args.data_dir) as store:
            return COMMANDS[args.command](store, args)
    except DockError as error:
        print(f"dock: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:  # `dock ls | head`
        return EXIT_OK
