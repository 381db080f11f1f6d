"""taskagent: MCP tools on a schedule, AI summaries, notifications and a chat agent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskagent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
