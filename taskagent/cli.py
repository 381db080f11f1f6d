"""Argument parsing for `taskagent` and its subcommands. Parsing only: no I/O, no imports of
heavy libraries, so `taskagent --help` and `--version` answer instantly."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

NOTIFY_LEVELS = ("all", "errors", "significant", "alerts", "silent")
SUMMARY_MODES = ("always", "changes", "off")
MCP_SERVERS = ("background",)  # what `taskagent mcp serve` runs (taskagent.mcp_serve)


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text[:40]}")
    return value


MAX_STOP_GRACE_SECONDS = 3600


def stop_grace_seconds(text: str) -> float:
    """An argparse type: the seconds a stop gives running runs, 0 to an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a number of seconds") from None
    if not 0 <= value <= MAX_STOP_GRACE_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be 0 to {MAX_STOP_GRACE_SECONDS} seconds, not {text[:40]}"
        )
    return value


MAX_ERROR_LENGTH = 300


class FriendlyParser(argparse.ArgumentParser):
    """argparse whose usage errors are bad input like any other: one line saying what is wrong
    and where the options are listed, exit status 1 (docs/cli.md), never the usage block."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        if len(line) > MAX_ERROR_LENGTH:  # a huge value quoted back (an invalid choice)
            line = line[: MAX_ERROR_LENGTH - 1] + "…"
        self.exit(1, f"{self.prog}: {line} (see {self.prog} --help)\n")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _add_task_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "task_id", help="the task's id, its name, or a part of its name only it has"
    )


def _add_task_options(parser: argparse.ArgumentParser, *, edit: bool) -> None:
    """The options of `tasks add`; `tasks edit` takes the same ones, all optional."""
    when = parser.add_mutually_exclusive_group(required=not edit)
    when.add_argument("--every", metavar="INTERVAL", help='e.g. "30 minutes", "2h", "45s"')
    when.add_argument("--daily", metavar="HH:MM", help="every day at this time")
    when.add_argument("--weekly", metavar="DAYS HH:MM", help='e.g. "Monday 09:00", "Mon,Fri 18:00"')
    when.add_argument("--cron", metavar="EXPR", help='5-field crontab, e.g. "*/5 * * * *"')
    when.add_argument("--once", metavar="ISO", help="one run at an ISO 8601 date-time")
    parser.add_argument("--tool", required=not edit, help="MCP tool to call: name or server:name")
    parser.add_argument(
        "--args", default=None if edit else "{}", metavar="JSON", help="tool arguments as JSON"
    )
    parser.add_argument("--description", default=None if edit else "", help="what the task is for")
    summary = parser.add_mutually_exclusive_group()
    summary.add_argument(
        "--summary",
        choices=SUMMARY_MODES,
        help="AI summary of every run (always), of the first run and significant changes only "
        "(changes), or none (off); default: [ai] summary_mode",
    )
    summary.add_argument("--no-summary", action="store_true", help="the same as --summary off")
    parser.add_argument("--notify", choices=NOTIFY_LEVELS, help="notification level")
    parser.add_argument("--timezone", help="IANA zone for the schedule (default: configured)")
    parser.add_argument("--threshold", type=float, help="significant change in percent (default 5)")
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="a run this late still runs; later it is recorded as missed (default 60)",
    )
    parser.add_argument(
        "--misfire",
        choices=("once", "skip"),
        help="missed runs: one catch-up run (once, default) or none (skip)",
    )
    parser.add_argument(
        "--catch-up-within",
        metavar="DURATION",
        help='no catch-up run when the missed runs are older than this, e.g. "2h" '
        "(default: catch up whatever their age; 0 = the same)",
    )
    parser.add_argument(
        "--disabled",
        action="store_true",
        help="switch it off" if edit else "create it switched off",
    )
    parser.add_argument(
        "--allow-write",
        action="store_true",
        help="allow a tool that is not read-only (it may change data) to run unattended",
    )
    _add_alert_options(parser, edit=edit)
    add_delivery_options(parser, edit=edit)


ALERT_HELP = (
    'an alert rule, e.g. "price crosses above 100k" or "coins[id=bitcoin].current_price '
    'moves 10%% within 1 day" (repeatable; see docs/alerts.md)'
)


def _add_alert_options(parser: argparse.ArgumentParser, *, edit: bool) -> None:
    alerts = parser.add_mutually_exclusive_group()
    alerts.add_argument("--alert", action="append", metavar="RULE", help=ALERT_HELP)
    if edit:
        alerts.add_argument("--no-alerts", action="store_true", help="remove every alert rule")
    parser.add_argument(
        "--rearm",
        metavar="BAND",
        help="re-arm band of the rules given: a percentage of the level or an amount "
        "(default 0.5%%)",
    )


def add_delivery_options(parser: argparse.ArgumentParser, *, edit: bool) -> None:
    parser.add_argument(
        "--channel",
        action="append",
        metavar="CHANNEL",
        help="where its notifications go (repeatable): desktop, a name from [notify.named] or "
        "an Apprise URL; default: [notify] channels" + ("; 'default' to go back" if edit else ""),
    )
    parser.add_argument(
        "--urgent",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="its notifications go through quiet hours",
    )
    parser.add_argument(
        "--quiet-hours",
        metavar="HH:MM-HH:MM",
        help="its own quiet hours ('' = none, 'default' = [notify] quiet_hours)",
    )
    parser.add_argument(
        "--digest",
        metavar="PERIOD",
        help='one message per period instead of one per run, e.g. "daily 08:00" '
        "('' = none, 'default' = [notify] digest)",
    )


def add_notify_command(sub: Any) -> None:
    notify = sub.add_parser("notify", help="notification channels")
    notify_sub = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    test = notify_sub.add_parser(
        "test",
        help="send a test message (to CHANNEL, or every [notify] channel) and print the receipt",
    )
    test.add_argument("channel", nargs="?", help="desktop, a name from [notify.named] or a URL")


class LazyVersion(argparse.Action):
    """`--version`, looked up only when asked for (importlib.metadata is slow to import, and
    every start builds this parser)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from taskagent import __version__

        print(f"taskagent {__version__}", file=sys.stdout)
        parser.exit()


# `tasks` actions that only read or change rows: they open the database alone (no agent, no MCP
# servers, no settings model: see taskagent/checked_files.py), which makes them several times
# faster. A running daemon picks their changes up. `status` reads the scheduler's state from
# the lease its holder keeps in the database.
DATABASE_ONLY = frozenset(
    {"list", "show", "history", "remove", "start", "stop", "pause", "resume", "export", "status"}
    | {"alerts", "backtest"}
)
# What a task's consent covers (core/tasks/consent.py): an edit that changes any of it, or
# approves the task again (--allow-write), resolves its tool with the catalogue.
_CONSENT_OPTIONS = ("tool", "args", "timezone", "every", "daily", "weekly", "cron", "once")


def database_only(args: argparse.Namespace) -> bool:
    """Whether this command needs only the database (an edit that leaves what the task's
    consent covers alone needs no tool catalogue either)."""
    if getattr(args, "command", None) != "tasks" or _sets_delivery(args):
        return False
    action = args.tasks_command
    keeps_tool = action == "edit" and not (
        args.allow_write or any(getattr(args, o, None) is not None for o in _CONSENT_OPTIONS)
    )
    return action in DATABASE_ONLY or keeps_tool


def _sets_delivery(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, o, None) is not None for o in ("channel", "urgent", "quiet_hours", "digest")
    )


def settings_remembered(args: argparse.Namespace) -> bool:
    """Whether the command starts from the remembered settings: the database-only ones, and
    `tasks add` / `edit` / `import`, which need no agent when the remembered tools know
    theirs."""
    if database_only(args):
        return True
    if _sets_delivery(args):  # channels are checked against [notify.named]: the full load
        return False
    tasks = getattr(args, "command", None) == "tasks"
    return tasks and args.tasks_command in ("add", "edit", "import")


COMMANDS = ("app", "daemon", "mcp", "config", "tasks", "doctor", "service", "notify")
TASK_ACTIONS: tuple[str, ...] = (
    *("list", "add", "edit", "show", "history", "run", "status", "export", "import"),
    *("remove", "start", "stop", "pause", "resume", "alerts", "backtest"),
)


class _Skipped:
    """Stands in for the parser of a command that was not asked for: takes every call (each
    parser costs argparse's gettext look-ups; a script's `tasks list` needs only its own)."""

    def __getattr__(self, _name: str) -> Any:
        return self._take

    def _take(self, *_args: Any, **_kwargs: Any) -> _Skipped:
        return self


class _Only:
    """`add_subparsers`' result that builds only the parser of `wanted` (None: all)."""

    def __init__(self, sub: Any, wanted: str | None) -> None:
        self.sub = sub
        self.wanted = wanted

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.wanted is None or name == self.wanted:
            return self.sub.add_parser(name, **kwargs)
        return _Skipped()


def _asked_for(argv: Sequence[str] | None) -> tuple[str | None, str | None]:
    """(command, tasks action) when `argv` names them plainly and asks for no help; a parser of
    just those parses it exactly as the whole one would. (None, None): the whole parser."""
    if argv is None or any(a in ("-h", "--help", "--version") for a in argv):
        return None, None
    command = argv[0] if argv and argv[0] in COMMANDS else None
    if command != "tasks":
        return command, None
    action = argv[1] if len(argv) > 1 and argv[1] in TASK_ACTIONS else None
    return (command, action) if action is not None else (None, None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `argv`, only the parsers that line needs."""
    command, action = _asked_for(argv)
    parser = FriendlyParser(
        prog="taskagent",
        description=(
            "Put MCP tools on a schedule, read a short AI summary of each result, get notified "
            "when something matters, and talk to the agent. With no command, opens the app."
        ),
        epilog="Data and config live in per-user folders; set TASKAGENT_HOME=<dir> to use one "
        "folder instead. `taskagent config` shows where.",
    )
    parser.add_argument("--version", action=LazyVersion)
    sub = _Only(
        parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=FriendlyParser),
        command,
    )
    sub.add_parser("app", help="open the full-screen app (the default)")
    _add_daemon_command(sub)
    _add_mcp_command(sub)
    _add_config_command(sub)
    _add_tasks_command(sub, action)
    _add_doctor_command(sub)
    _add_service_command(sub)
    add_notify_command(sub)
    return parser


# What `add_subparsers` returns; argparse names the type privately, so it is spelled as Any.
Subparsers = Any


def _add_daemon_command(sub: Subparsers) -> None:
    daemon = sub.add_parser("daemon", help="run the scheduler with no UI, for 24/7 use")
    daemon.add_argument(
        "--grace",
        type=stop_grace_seconds,
        default=10.0,
        help="seconds running runs get to finish on SIGTERM/SIGINT, 0-3600 (default 10)",
    )
    daemon.add_argument(
        "--verbose",
        action="store_true",
        help="log debug lines and the libraries' info lines (HTTP requests, ...) too",
    )


def _add_doctor_command(sub: Subparsers) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check settings, servers, database, scheduler, notifications, disk; exit 0/1/2",
    )
    _add_json(doctor)
    doctor.add_argument(
        "--watch",
        action="store_true",
        help="also notify about a new failure (once until it clears) and its recovery; "
        "for a timer (`taskagent service install` sets one up)",
    )


def _add_service_command(sub: Subparsers) -> None:
    service = sub.add_parser(
        "service", help="run the daemon and the watchdog as a systemd or launchd user service"
    )
    service_sub = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    for action, text in (
        ("install", "write and enable the daemon's service and the watchdog's 5-minute timer"),
        ("uninstall", "stop, disable and remove them"),
        ("status", "whether they are installed, enabled and running"),
    ):
        p = service_sub.add_parser(action, help=text)
        p.add_argument(
            "--dry-run", action="store_true", help="print the files and commands, change nothing"
        )


def _add_mcp_command(sub: Subparsers) -> None:
    mcp = sub.add_parser("mcp", help="taskagent's own MCP server, for other MCP clients")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    serve = mcp_sub.add_parser(
        "serve", help="run a built-in MCP server over stdio (an MCP client starts this)"
    )
    serve.add_argument(
        "server", choices=MCP_SERVERS, help="background: taskagent's tasks as MCP tools"
    )


def _add_config_command(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="show settings and where files live")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_sub.add_parser("show", help="the settings in force and where each came from (default)")
    config_sub.add_parser("path", help="the config file, database and log folder")
    config_sub.add_parser("doc", help="the settings table of docs/settings.md, in Markdown")
    init = config_sub.add_parser("init", help="write a commented config.toml with the defaults")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def _add_tasks_command(sub: Subparsers, action: str | None = None) -> None:
    """`taskagent tasks ACTION`; the actions are listed in `--help` in the order added here
    (`action`: only that one's parser)."""
    tasks = sub.add_parser("tasks", help="manage tasks from scripts")
    tasks_sub = _Only(
        tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True), action
    )
    _add_json(tasks_sub.add_parser("list", help="all tasks"))
    _add_task_writes(tasks_sub)
    _add_task_reads(tasks_sub)
    _add_task_transfer(tasks_sub)
    for action, text in (
        ("remove", "delete a task (its run history is kept)"),
        ("start", "enable a task"),
        ("stop", "disable a task"),
        ("pause", "pause a task (it keeps its schedule)"),
        ("resume", "resume a paused task"),
    ):
        p = tasks_sub.add_parser(action, help=text)
        _add_task_id(p)
        _add_json(p)


def _add_task_writes(tasks_sub: Subparsers) -> None:
    """`tasks add` and `tasks edit`: the same options, all optional for edit."""
    add = tasks_sub.add_parser("add", help="create a task")
    add.add_argument("name", help="a unique name")
    _add_task_options(add, edit=False)
    _add_json(add)

    edit = tasks_sub.add_parser("edit", help="change a task (only the options given)")
    _add_task_id(edit)
    edit.add_argument("--name", help="a new unique name")
    _add_task_options(edit, edit=True)
    _add_json(edit)


def _add_task_reads(tasks_sub: Subparsers) -> None:
    """`tasks show`, `history`, `run` and `status`: one task or the scheduler, read."""
    show = tasks_sub.add_parser("show", help="one task with its stats and next runs")
    _add_task_id(show)
    _add_json(show)

    history = tasks_sub.add_parser("history", help="a task's recent runs, newest first")
    _add_task_id(history)
    history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    _add_json(history)

    run = tasks_sub.add_parser("run", help="run a task now, wait and print the result")
    _add_task_id(run)
    run.add_argument(
        "--timeout", type=positive_seconds, default=600, help="seconds to wait (default 600)"
    )
    _add_json(run)

    _add_json(tasks_sub.add_parser("status", help="scheduler state, counts and next runs"))

    alerts = tasks_sub.add_parser("alerts", help="a task's alert rules and their state")
    _add_task_id(alerts)
    _add_json(alerts)

    backtest = tasks_sub.add_parser(
        "backtest", help="replay a task's stored results through alert rules"
    )
    _add_task_id(backtest)
    backtest.add_argument(
        "--alert", action="append", metavar="RULE", help="a rule (default: the task's rules)"
    )
    backtest.add_argument("--rearm", metavar="BAND", help="re-arm band of the rules given")
    _add_json(backtest)


def _add_task_transfer(tasks_sub: Subparsers) -> None:
    """`tasks export` and `tasks import`: all tasks as a JSON or TOML file."""
    export = tasks_sub.add_parser("export", help="write all tasks as JSON or TOML")
    export.add_argument("file", nargs="?", help="output file (default: print)")
    export.add_argument("--format", choices=("json", "toml"), help="default: from the file name")

    imp = tasks_sub.add_parser("import", help="create/update tasks from a JSON or TOML export")
    imp.add_argument("file", help="the file to read")
    imp.add_argument("--format", choices=("json", "toml"), help="default: from the file name")
    imp.add_argument(
        "--allow-write",
        action="store_true",
        help="allow new tasks (or new tools) that are not read-only to run unattended",
    )
    _add_json(imp)
