"""The tool catalogue: what each server offers, resolving `server:tool` or a bare tool name
(with "did you mean" suggestions), and checking arguments against a tool's input schema."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from taskagent.core.mcp.errors import (
    AmbiguousTool,
    InvalidToolArgs,
    ServerMisconfigured,
    ServerUnavailable,
    ToolNotFound,
)
from taskagent.core.mcp.mcp_json import BrokenServerSpec, ServerKind, ServerSpec, json_type

if TYPE_CHECKING:
    import jsonschema
    from fastmcp import FastMCP

# "freezing": connected, but its last calls did not answer in time (each ended its session).
ServerState = Literal["connected", "freezing", "failed", "not started"]


@dataclass(frozen=True)
class ToolInfo:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    # The server's hints (read_only_hint, destructive_hint, ...); None when it gave none.
    annotations: Any = None

    @property
    def ref(self) -> str:
        return f"{self.server}:{self.name}"

    # MCP's defaults for a hint the server left out: not read-only, may be destructive, not
    # idempotent, reaches the outside world. So a tool without annotations is treated as a
    # tool that may change data (the chat asks first; a task needs an explicit allow-write).
    def _hint(self, name: str) -> bool | None:
        # The server's annotations object (or None); a hint it left out may be missing.
        value = getattr(self.annotations, name, None)
        return value if isinstance(value, bool) else None

    @property
    def read_only(self) -> bool:
        return self._hint("read_only_hint") is True

    @property
    def destructive(self) -> bool:
        return not self.read_only and self._hint("destructive_hint") is not False

    @property
    def marked_destructive(self) -> bool:
        """The server said so (rather than MCP's default for a tool without the hint)."""
        return self._hint("destructive_hint") is True

    @property
    def idempotent(self) -> bool:
        return self.read_only or self._hint("idempotent_hint") is True

    @property
    def open_world(self) -> bool:
        return self._hint("open_world_hint") is not False

    @property
    def safe_to_repeat(self) -> bool:
        """Calling it twice does no harm (read-only or idempotent), so a transient failure may
        be retried; a tool that may change data is never called a second time on its own."""
        return self.idempotent


@dataclass(frozen=True)
class ServerStatus:
    name: str
    kind: ServerKind
    state: ServerState
    error: str | None
    tool_count: int
    sessions: int = 0  # open client sessions over all event loops


@dataclass(eq=False)
class ServerEntry:
    """One registered server: how to reach it, its state and its tools."""

    name: str
    kind: ServerKind
    instance: FastMCP | None = None
    spec: ServerSpec | None = None
    state: ServerState = "not started"
    error: str | None = None
    tools: dict[str, ToolInfo] = field(default_factory=dict)
    timeouts_in_a_row: int = 0  # calls that did not answer in time since the last answer


def resolve_tool(servers: Mapping[str, ServerEntry], ref: str) -> ToolInfo:
    """`server:tool`, or a bare tool name when only one server has it."""
    ref = ref.strip()
    if ":" in ref:
        server_name, _, tool = ref.partition(":")
        server = servers.get(server_name)
        if server is None:
            names = list(servers)
            close = difflib.get_close_matches(server_name, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ToolNotFound(
                f"unknown MCP server '{server_name}' in '{ref}'{hint} "
                f"(servers: {', '.join(names) or 'none'})",
                ref=ref,
                suggestions=[f"{c}:{tool}" for c in close],
            )
        if tool in server.tools:
            return server.tools[tool]
        if isinstance(server.spec, BrokenServerSpec):
            raise ServerMisconfigured(server_name, server.spec.problem)
        if server.state != "connected" and not server.tools:
            raise ServerUnavailable(server_name, server.error or server.state)
        close = difflib.get_close_matches(tool, list(server.tools), n=5)
        suggestions = [f"{server_name}:{c}" for c in close]
        raise ToolNotFound(
            _not_found_message(servers, ref, suggestions, list(server.tools.values())),
            ref=ref,
            suggestions=suggestions,
        )

    matches = [s.tools[ref] for s in servers.values() if ref in s.tools]
    if len(matches) == 1:
        return matches[0]
    if matches:
        candidates = [m.ref for m in matches]
        raise AmbiguousTool(
            f"tool name '{ref}' is ambiguous: {', '.join(candidates)}; "
            "use 'server:tool' to pick one",
            ref=ref,
            candidates=candidates,
        )
    all_tools = [t for s in servers.values() for t in s.tools.values()]
    by_name: dict[str, list[str]] = {}
    for t in all_tools:
        by_name.setdefault(t.name, []).append(t.ref)
    suggestions = []
    for name in difflib.get_close_matches(ref, list(by_name), n=5):
        suggestions.extend(by_name[name])
    raise ToolNotFound(
        _not_found_message(servers, ref, suggestions, all_tools), ref=ref, suggestions=suggestions
    )


def _not_found_message(
    servers: Mapping[str, ServerEntry], ref: str, suggestions: list[str], pool: list[ToolInfo]
) -> str:
    msg = f"unknown tool '{ref}'"
    if suggestions:
        msg += f"; did you mean {', '.join(suggestions)}?"
    elif pool:
        shown = ", ".join(t.ref for t in pool[:10])
        more = f" (+{len(pool) - 10} more)" if len(pool) > 10 else ""
        msg += f"; available: {shown}{more}"
    else:
        msg += "; no tools are available"
    down = [s.name for s in servers.values() if s.state == "failed"]
    if down:
        msg += f" (not available: {', '.join(down)})"
    return msg


def validate_tool_args(servers: Mapping[str, ServerEntry], ref: str, args: Any) -> None:
    """Check `args` against the tool's input schema; raise InvalidToolArgs listing problems."""
    info = resolve_tool(servers, ref)
    if not isinstance(args, Mapping):
        raise InvalidToolArgs(
            f"arguments for '{info.ref}' must be an object, got {json_type(args)}",
            ref=info.ref,
            problems=["arguments must be an object"],
        )
    import jsonschema  # ~50 ms: only where arguments are checked

    schema = info.input_schema
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema)
    problems: list[str] = []
    # Stable, readable order: by argument, missing before unknown before bad values.
    rank = {"required": 0, "additionalProperties": 1}
    errors = sorted(
        validator.iter_errors(dict(args)),
        key=lambda e: ([str(p) for p in e.absolute_path], rank.get(str(e.validator), 2)),
    )
    for err in errors:
        for p in _describe_schema_error(err):
            if p not in problems:
                problems.append(p)
    if problems:
        raise InvalidToolArgs(
            f"invalid arguments for '{info.ref}': {'; '.join(problems)}",
            ref=info.ref,
            problems=problems,
        )


def _arg_name(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(arguments)"


def _text_problem(where: str, err: jsonschema.ValidationError) -> str:
    """A string the schema refuses, told with the argument's own description (a pattern means
    little to the user): "'symbol' is required and must not be empty (ticker, e.g. btc)"."""
    schema = err.schema if isinstance(err.schema, dict) else {}
    about = str(schema.get("description") or "").strip().rstrip(".")
    hint = f" ({about})" if about else ""
    if not err.instance.strip():
        return f"'{where}' must not be empty{hint}"
    return f"invalid value for '{where}': {_shown(err.instance)} is not valid{hint}"


def _shown(value: str, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _describe_schema_error(err: jsonschema.ValidationError) -> list[str]:
    where = _arg_name(err.absolute_path)
    v = err.validator
    if v == "required":
        missing = [m for m in err.validator_value if m not in (err.instance or {})]
        prefix = f"{where}." if err.absolute_path else ""
        return [f"missing required argument '{prefix}{m}'" for m in missing]
    if v == "additionalProperties":
        props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        extra = [k for k in err.instance if k not in props]
        prefix = f"{where}." if err.absolute_path else ""
        return [f"unknown argument '{prefix}{k}'" for k in extra] or [err.message]
    if v == "type":
        expected = err.validator_value
        expected_s = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [f"wrong type for '{where}': expected {expected_s}, got {json_type(err.instance)}"]
    if v == "enum":
        allowed = ", ".join(repr(x) for x in err.validator_value)
        return [f"invalid value for '{where}': {err.instance!r} is not one of {allowed}"]
    if v == "const":
        return [f"invalid value for '{where}': must be {err.validator_value!r}"]
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if v in bounds:
        return [f"'{where}' must be {bounds[v]} {err.validator_value}, got {err.instance!r}"]
    if v in ("minLength", "pattern") and isinstance(err.instance, str):
        return [_text_problem(where, err)]
    if v in ("minLength", "maxLength", "minItems", "maxItems", "pattern", "format"):
        return [f"invalid value for '{where}': {err.message}"]
    if v in ("anyOf", "oneOf") and err.context:
        # A branch that failed deeper down is the one the caller meant (e.g. list[str] | None
        # given ["a", 1]): report its errors. Otherwise all failed on type: "expected a or b".
        deeper = [sub for sub in err.context if sub.relative_path]
        if deeper:
            return [p for sub in deeper for p in _describe_schema_error(sub)]
        types = [sub.validator_value for sub in err.context if sub.validator == "type"]
        if len(types) == len(err.context):
            flat = [t for ty in types for t in (ty if isinstance(ty, list) else [ty])]
            return [
                f"wrong type for '{where}': expected {' or '.join(dict.fromkeys(flat))}, "
                f"got {json_type(err.instance)}"
            ]
    return [f"invalid value for '{where}': {err.message}"]


class ToolList:
    """A tool catalogue from tools seen before, without their servers (the CLI's `tasks add`
    checks a task against the tools the last full start listed): the same lookup, messages
    and argument checks as the manager's."""

    def __init__(self, tools: list[ToolInfo], kinds: Mapping[str, ServerKind]) -> None:
        self.servers: dict[str, ServerEntry] = {}
        for name, kind in kinds.items():
            self.servers[name] = ServerEntry(name, kind, state="connected")
        for tool in tools:
            self.servers[tool.server].tools[tool.name] = tool

    def resolve(self, ref: str) -> ToolInfo:
        return resolve_tool(self.servers, ref)

    def validate_args(self, ref: str, args: Any) -> None:
        validate_tool_args(self.servers, ref, args)
