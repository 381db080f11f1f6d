"""Entry point: argv -> settings -> the app, the CLI or the daemon."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from taskagent.paths import resolve_paths

if TYPE_CHECKING:
    from argparse import Namespace

    from taskagent.config import Settings


def _fail(message: str, code: int = 1) -> int:
    print(f"taskagent: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # No arguments: the app, which needs no parser (argparse, and every subcommand's help text
    # through gettext, cost a few percent of a bare Textual app's start).
    args: Namespace
    if argv:
        from taskagent.cli import build_parser

        args = build_parser(argv).parse_args(argv)
    else:
        args = cast("Namespace", SimpleNamespace(command=None))  # only `.command` is read
    if args.command is None:
        # The app paints first and validates the settings right after (taskagent/app_main.py).
        from taskagent.app_main import run_app

        try:
            return run_app(resolve_paths())
        except KeyboardInterrupt:
            return 130
    from taskagent.cli import settings_remembered

    if settings_remembered(args):
        return _database_command(args)
    return _guarded(lambda: _settings_then_command(args))


def _database_command(args: Namespace) -> int:
    """A `tasks` command that needs only the database (or, for add and edit, the tools listed
    before): with the settings the last full load made, unless anything they came from
    changed (taskagent/checked_files.py)."""
    from taskagent.checked_files import CheckedFiles

    def command() -> int:
        paths = resolve_paths()
        paths.ensure()  # a folder of another user is refused before anything is written
        try:
            settings = CheckedFiles(paths).settings()
        except Exception as exc:
            from taskagent.settings_model import ConfigError  # a full load ran: imported

            if isinstance(exc, ConfigError):
                return _fail(str(exc))
            raise
        from taskagent.cli_commands import run_tasks_command

        return run_tasks_command(settings, args)

    return _guarded(command)


def _guarded(command: Callable[[], int]) -> int:
    """Run a command: Ctrl+C, a closed pipe and a bad mcp.json or database end it with a line
    and an exit status, not a traceback."""
    try:
        return command()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `taskagent tasks list | head`: the reader left; exit quietly like other CLI tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        # A bad mcp.json is a user error like a bad config.toml: one message, no traceback.
        # (Imported late: fastmcp is too slow to import for --help.)
        from taskagent.core.mcp import McpConfigError
        from taskagent.core.private_files import PrivateFileError
        from taskagent.core.store import DatabaseBusy, SchemaError

        if isinstance(exc, PrivateFileError):  # a folder or file that is not the user's alone
            return _fail(str(exc), 1)
        if isinstance(exc, McpConfigError):
            return _fail(str(exc))
        if isinstance(exc, SchemaError):  # a database that cannot be used: what to do
            return _fail(str(exc))
        if isinstance(exc, DatabaseBusy):  # another process holds the write lock (a frozen one?)
            return _fail(f"{exc}; another taskagent process holds it: try again in a moment")
        if _not_permitted(exc):  # a data or log folder this user cannot write
            assert isinstance(exc, OSError)
            return _fail(
                f"cannot write {exc.filename} ({exc.strerror}): give this user write "
                "permission on it and its folder, or set TASKAGENT_HOME elsewhere",
                1,
            )
        raise


def _not_permitted(exc: BaseException) -> bool:
    """A file or folder of ours that the file system does not let this user create or write."""
    return (
        isinstance(exc, OSError)
        and exc.filename is not None
        and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    )


def _settings_then_command(args: Namespace) -> int:
    if args.command == "daemon":
        # A second daemon refuses before the settings are loaded (pydantic is most of what
        # the refusal would otherwise import).
        from taskagent.daemon import refuse_if_running

        refused = refuse_if_running(resolve_paths())
        if refused is not None:
            return refused
    # Imported here: the settings model's import (pydantic) is not for the app's first paint.
    from taskagent.config import ConfigError, load_settings

    try:
        settings = load_settings(resolve_paths())
    except ConfigError as exc:
        if args.command == "doctor":  # a bad setting is one of doctor's findings
            return _doctor(None, args, str(exc))
        return _fail(str(exc))
    return _command(settings, args)


def _doctor(settings: Settings | None, args: Namespace, error: str | None = None) -> int:
    from taskagent.doctor import run_doctor

    paths = resolve_paths() if settings is None else settings.paths
    return run_doctor(paths, settings, error, watching=args.watch, as_json=args.json)


def _command(settings: Settings, args: Namespace) -> int:
    if args.command == "doctor":
        return _doctor(settings, args)
    if args.command == "service":
        from taskagent.service_install import run_service_command

        return run_service_command(settings, args.service_command, dry_run=args.dry_run)
    if args.command == "config":
        return _config_command(settings, args)
    if args.command == "daemon":
        from taskagent.daemon import run_daemon

        return run_daemon(settings, grace=args.grace, verbose=args.verbose)
    if args.command == "mcp":
        from taskagent.mcp_serve import run_mcp_serve

        return run_mcp_serve(settings, args.server)
    if args.command == "tasks":
        from taskagent.cli_commands import run_tasks_command  # heavy imports only when needed

        return run_tasks_command(settings, args)
    if args.command == "notify":
        from taskagent.cli_delivery import run_notify_command

        return run_notify_command(settings, args)
    raise AssertionError(f"unknown command {args.command!r}")


def _config_command(settings: Settings, args: object) -> int:
    from taskagent.config import default_config_text, effective_config_text, settings_doc

    action = getattr(args, "config_command", None) or "show"
    paths = settings.paths
    if action == "doc":
        print(settings_doc(), end="")
        return 0
    if action == "path":
        print(f"config file : {paths.config_file}")
        print(f"mcp servers : {paths.mcp_file}")
        print(f"database    : {paths.db_file}")
        print(f"logs        : {paths.log_dir}")
        return 0
    if action == "init":
        if paths.config_file.exists() and not getattr(args, "force", False):
            return _fail(f"{paths.config_file} exists already (use --force to overwrite)")
        from taskagent.core.private_files import write_private_text

        paths.ensure()
        write_private_text(paths.config_file, default_config_text(), what="config.toml")
        print(f"wrote {paths.config_file}")
        return 0
    print(f"# {paths.config_file}")
    print(effective_config_text(settings), end="")
    print(f"# AI: {'Gemini key found' if settings.has_ai_key else 'no GEMINI_API_KEY: offline'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
