"""taskagent: MCP tools on a schedule, AI summaries, notifications and a chat agent."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # `__version__` on first use: importlib.metadata costs more than the rest of this package's
    # start-up imports, and only `--version` and the Status tab show it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("taskagent")
        except PackageNotFoundError:  # running from a source tree that was never installed
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
