"""The MCP manager's errors. All derive from TaskAgentError, so the app's error reporter and the
retry policy classify them by class flags (`transient`, `foreign_message`), not by name."""

from __future__ import annotations

from pathlib import Path

from taskagent.core.errors import TaskAgentError


class McpManagerError(TaskAgentError):
    """Base class of every error this module raises."""


class McpConfigError(McpManagerError):
    """mcp.json (or a registration) is invalid; the message names the file and the server.
    `problem`: what is wrong with one server's entry alone (that server fails, not the file)."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        server: str | None = None,
        problem: str | None = None,
    ):
        super().__init__(message)
        self.path = path
        self.server = server
        self.problem = problem


class ToolNotFound(McpManagerError):
    def __init__(self, message: str, *, ref: str, suggestions: list[str]):
        super().__init__(message)
        self.ref = ref
        self.suggestions = suggestions


class AmbiguousTool(McpManagerError):
    def __init__(self, message: str, *, ref: str, candidates: list[str]):
        super().__init__(message)
        self.ref = ref
        self.candidates = candidates


class InvalidToolArgs(McpManagerError):
    def __init__(self, message: str, *, ref: str, problems: list[str]):
        super().__init__(message)
        self.ref = ref
        self.problems = problems


class ToolCallError(McpManagerError):
    """The tool ran and reported an error; str() is the server's message."""

    foreign_message = True

    def __init__(self, message: str, *, server: str = "", tool: str = ""):
        super().__init__(message)
        self.server = server
        self.tool = tool


class ToolTimeout(McpManagerError):
    transient = True

    def __init__(self, message: str, *, server: str, tool: str, timeout: float):
        super().__init__(message)
        self.server = server
        self.tool = tool
        self.timeout = timeout


class ServerUnavailable(McpManagerError):
    """The server could not be reached (failed to start, died twice, manager closed)."""

    transient = True

    def __init__(self, server: str, reason: str):
        super().__init__(f"MCP server '{server}' is not available: {reason}")
        self.server = server
        self.reason = reason


class ServerMisconfigured(ServerUnavailable):
    """The server's entry in mcp.json cannot be used as written: trying again will not help
    until the file is fixed."""

    transient = False
