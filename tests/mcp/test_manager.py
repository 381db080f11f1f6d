"""McpManager against real servers: in-memory FastMCP instances and real stdio/HTTP subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import mcp_types
import pytest
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Audio, Image
from mcp import MCPError
from pydantic import Field

from mcp_servers.errors import OneLineErrors
from taskagent.core.mcp import (
    AmbiguousTool,
    BrokenServerSpec,
    HttpServerSpec,
    InvalidToolArgs,
    McpConfigError,
    McpManager,
    McpManagerError,
    ServerMisconfigured,
    ServerUnavailable,
    StdioServerSpec,
    ToolCallError,
    ToolInfo,
    ToolNotFound,
    ToolTimeout,
    build_child_env,
    load_mcp_config,
)
from tests.support.echo_server import STDERR_MARKER
from tests.support.waiting import until

ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"


# ---------------------------------------------------------------------------------------------
# Servers and helpers


@dataclass
class Quote:
    coin: str
    price: float


def make_alpha() -> FastMCP:
    alpha = FastMCP("alpha")

    @alpha.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @alpha.tool
    def echo(text: str) -> str:
        return text

    @alpha.tool
    def items(n: int) -> list[dict[str, int]]:
        return [{"i": i} for i in range(n)]

    @alpha.tool
    def info() -> dict[str, Any]:
        return {"name": "alpha", "ok": True}

    @alpha.tool
    def quote() -> Quote:
        return Quote("eth", 1.5)

    @alpha.tool
    def nothing() -> None:
        return None

    @alpha.tool
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    @alpha.tool
    def fail(message: str) -> str:
        raise ToolError(message)

    @alpha.tool
    def search(
        query: str,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        currency: Literal["usd", "eur"] = "usd",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        return {"query": query, "limit": limit}

    return alpha


def make_beta() -> FastMCP:
    beta = FastMCP("beta")

    @beta.tool
    def echo(text: str) -> str:
        return f"beta:{text}"

    @beta.tool
    def ping() -> str:
        return "pong"

    return beta


def echo_spec(**env: str) -> StdioServerSpec:
    return StdioServerSpec(command=sys.executable, args=(str(ECHO_SERVER),), env=env)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_dead(pids: list[int]) -> list[int]:
    """The pids still alive once all of them died (or a hang was cut short)."""
    with contextlib.suppress(AssertionError):
        await until(lambda: not any(alive(p) for p in pids))
    return [p for p in pids if alive(p)]


def echo_children() -> list[int]:
    """Our live child processes running echo_server.py."""
    me = str(os.getpid())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if stat[1] == me and stat[0] != "Z" and b"echo_server.py" in cmdline:
            found.append(int(proc.name))
    return found


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[McpManager]:
    mgr = McpManager(log_dir=tmp_path / "logs", call_timeout=10)
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_builtin("beta", make_beta())
    async with mgr:
        yield mgr


# ---------------------------------------------------------------------------------------------
# Catalogue


async def test_catalogue_covers_every_server(manager: McpManager) -> None:
    tools = await manager.list_tools()
    refs = [t.ref for t in tools]
    assert "alpha:add" in refs and "beta:echo" in refs and "beta:ping" in refs
    add = manager.get_tool("alpha:add")
    assert add == ToolInfo(
        server="alpha",
        name="add",
        description="Add two integers.",
        input_schema=add.input_schema,
        output_schema=add.output_schema,
    )
    assert add.input_schema["required"] == ["a", "b"]
    assert add.output_schema is not None
    statuses = {s.name: s for s in manager.status()}
    assert statuses["alpha"].state == "connected" and statuses["alpha"].kind == "builtin"
    assert statuses["alpha"].tool_count == len([r for r in refs if r.startswith("alpha:")])
    assert statuses["beta"].error is None and statuses["beta"].sessions == 1


async def test_resolve_by_qualified_and_unique_bare_name(manager: McpManager) -> None:
    assert manager.resolve("alpha:add").ref == "alpha:add"
    assert manager.resolve("add").ref == "alpha:add"
    assert manager.resolve("ping").ref == "beta:ping"
    assert manager.resolve("beta:echo").server == "beta"


async def test_ambiguous_bare_name_lists_candidates(manager: McpManager) -> None:
    with pytest.raises(AmbiguousTool) as info:
        manager.resolve("echo")
    assert info.value.candidates == ["alpha:echo", "beta:echo"]
    assert "alpha:echo, beta:echo" in str(info.value)
    assert isinstance(info.value, McpManagerError)


async def test_unknown_names_get_close_suggestions(manager: McpManager) -> None:
    with pytest.raises(ToolNotFound) as info:
        manager.resolve("ad")
    assert "alpha:add" in info.value.suggestions
    assert "did you mean alpha:add" in str(info.value)

    with pytest.raises(ToolNotFound) as info:
        manager.resolve("alpha:ehco")
    assert info.value.suggestions == ["alpha:echo"]

    with pytest.raises(ToolNotFound) as info:
        manager.resolve("alpah:add")
    assert info.value.suggestions == ["alpha:add"]
    assert "unknown MCP server 'alpah'" in str(info.value)

    with pytest.raises(ToolNotFound) as info:
        manager.resolve("zzzzzz")
    assert info.value.suggestions == []
    assert "available: alpha:add" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Calls


@pytest.mark.parametrize(
    ("ref", "args", "data", "text"),
    [
        ("add", {"a": 2, "b": 3}, 5, "5"),
        ("alpha:echo", {"text": "hi there"}, "hi there", "hi there"),
        ("items", {"n": 2}, [{"i": 0}, {"i": 1}], None),
        ("info", {}, {"name": "alpha", "ok": True}, None),
        ("quote", {}, {"coin": "eth", "price": 1.5}, None),  # a plain dict, not a made-up class
        ("nothing", {}, None, ""),
    ],
)
async def test_call_results_are_plain_python(
    manager: McpManager, ref: str, args: dict[str, Any], data: Any, text: str | None
) -> None:
    result = await manager.call_tool(ref, args)
    assert result.data == data
    assert type(result.data) is type(data)
    assert result.is_error is False
    assert result.server == "alpha"
    if text is not None:
        assert result.text == text
    else:
        assert json.loads(result.text) == data


async def test_tool_error_carries_the_server_message(manager: McpManager) -> None:
    with pytest.raises(ToolCallError) as info:
        await manager.call_tool("alpha:fail", {"message": "unknown coin 'bad'"})
    assert str(info.value) == "unknown coin 'bad'"
    assert (info.value.server, info.value.tool) == ("alpha", "fail")

    result = await manager.call_tool("fail", {"message": "soft"}, raise_on_error=False)
    assert result.is_error and result.text == "soft"


async def test_timeout_is_readable_and_the_session_survives(manager: McpManager) -> None:
    with pytest.raises(ToolTimeout) as info:  # the tool would answer after 5 s
        await manager.call_tool("alpha:slow", {"seconds": 5}, timeout=0.2)
    assert str(info.value) == "tool 'alpha:slow' did not answer within 0.2 s"
    assert info.value.timeout == 0.2
    assert (await manager.call_tool("alpha:slow", {"seconds": 0})).data == "done"
    assert manager.session_count("alpha") == 1


class Refusals(Middleware):
    """A middleware that fails: with an MCP error for `refused`, a bug for `broken`."""

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        name = getattr(context.message, "name", "")
        if name == "refused":
            raise MCPError(code=mcp_types.INVALID_PARAMS, message="refused by policy")
        if name == "broken":
            raise RuntimeError("middleware bug")
        return await call_next(context)


def make_odd(*, mask: bool) -> FastMCP:
    """Tools whose answers are failures of every kind, on a server set up like ours."""
    odd = FastMCP("odd", mask_error_details=mask)
    odd.add_middleware(OneLineErrors())
    odd.add_middleware(Refusals())

    @odd.tool
    def boom() -> str:
        raise ValueError("secret internals")

    @odd.tool
    def soft() -> ToolResult:
        return ToolResult(content=[mcp_types.TextContent(type="text", text="soft")], is_error=True)

    @odd.tool
    def count(n: int) -> int:
        return n

    @odd.tool
    def gone() -> int:
        return 1

    @odd.tool
    def nan() -> float:
        return float("nan")

    @odd.tool
    def words() -> list[str]:
        return ["a", "b"]

    @odd.tool
    def refused() -> int:
        return 1

    @odd.tool
    def broken() -> int:
        return 1

    return odd


@pytest.mark.parametrize(
    ("mask", "tool", "args", "text", "is_error"),
    [
        (True, "boom", {}, "Error calling tool 'boom'", True),
        (False, "boom", {}, "Error calling tool 'boom': secret internals", True),
        (True, "soft", {}, "soft", True),
        (
            True,
            "count",
            {"n": "ten"},
            "invalid arguments for 'count': wrong value for 'n': input should be a valid "
            "integer, unable to parse string as an integer",
            True,
        ),
        (True, "gone", {}, "Unknown tool: 'gone'", True),  # removed after it was listed
        (
            True,
            "nan",
            {},
            "Tool result contains a non-finite float (nan) at $; JSON cannot represent NaN or "
            "Infinity",
            True,
        ),
        (True, "words", {}, '["a","b"]', False),
        (True, "refused", {}, "refused by policy", None),  # raised as ToolCallError
        (True, "broken", {}, "Internal server error", None),
    ],
)
async def test_builtin_answers_are_those_of_an_mcp_client(
    tmp_path: Path, mask: bool, tool: str, args: dict[str, Any], text: str, is_error: bool | None
) -> None:
    """What a built-in server answers, as a fastmcp client over MCP receives it."""
    odd = make_odd(mask=mask)
    async with McpManager(log_dir=tmp_path) as mgr:
        mgr.add_builtin("odd", odd)
        await mgr.refresh()
        odd.local_provider.remove_tool("gone")
        if is_error is None:
            with pytest.raises(ToolCallError) as info:
                await mgr.call_tool(f"odd:{tool}", args, raise_on_error=False)
            assert str(info.value) == text
            return
        result = await mgr.call_tool(f"odd:{tool}", args, raise_on_error=False)
    assert (result.text, result.is_error) == (text, is_error)
    assert result.data == (["a", "b"] if tool == "words" else text)


async def test_default_timeout_comes_from_the_constructor(tmp_path: Path) -> None:
    async with McpManager(log_dir=tmp_path, call_timeout=0.1) as mgr:
        mgr.add_builtin("alpha", make_alpha())
        await mgr.refresh()
        with pytest.raises(ToolTimeout, match=r"within 0\.1 s"):
            await mgr.call_tool("slow", {"seconds": 3})


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "missing required argument 'query'"),
        ({"query": "x", "colour": "red"}, "unknown argument 'colour'"),
        ({"query": "x", "limit": "ten"}, "wrong type for 'limit': expected integer, got string"),
        ({"query": "x", "limit": 0}, "'limit' must be >= 1, got 0"),
        ({"query": "x", "limit": 101}, "'limit' must be <= 100, got 101"),
        ({"query": "x", "currency": "gbp"}, "invalid value for 'currency': 'gbp' is not one of"),
        ({"query": "x", "tags": "a"}, "wrong type for 'tags': expected array or null, got string"),
        ({"query": "x", "tags": ["a", 1]}, "wrong type for 'tags.1': expected string"),
        ({"query": 3}, "wrong type for 'query': expected string, got number"),
    ],
)
async def test_validate_args_names_the_problem(
    manager: McpManager, args: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidToolArgs) as info:
        manager.validate_args("alpha:search", args)
    assert problem in str(info.value)
    assert str(info.value).startswith("invalid arguments for 'alpha:search': ")


async def test_validate_args_accepts_good_args_and_rejects_non_objects(
    manager: McpManager,
) -> None:
    manager.validate_args("search", {"query": "btc", "limit": 5, "currency": "eur", "tags": None})
    manager.validate_args("ping", {})
    with pytest.raises(InvalidToolArgs, match="must be an object, got array"):
        manager.validate_args("ping", [])  # type: ignore[arg-type]
    with pytest.raises(InvalidToolArgs) as info:
        manager.validate_args("add", {"b": "x", "c": 1})
    assert info.value.problems == [
        "missing required argument 'a'",
        "unknown argument 'c'",
        "wrong type for 'b': expected integer, got string",
    ]


async def test_registration_rejects_clashing_names(tmp_path: Path) -> None:
    mgr = McpManager(log_dir=tmp_path)
    mgr.add_builtin("crypto", make_beta())
    with pytest.raises(McpConfigError, match="clashes with a built-in server"):
        mgr.add_configured({"crypto": echo_spec()})
    assert [s.state for s in mgr.status()] == ["not started"]


# ---------------------------------------------------------------------------------------------
# Failures at start-up


async def test_an_entry_that_cannot_be_used_fails_alone_and_for_good(tmp_path: Path) -> None:
    """An mcp.json entry with a bad field: shown failed from registration on, never started,
    its tools refused with the reason (not transient: no retry helps), the others work."""
    problem = "mcp.json: 'args' must be a list of strings, got string"
    mgr = McpManager(log_dir=tmp_path / "logs")
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_configured({"x": BrokenServerSpec(problem)})
    assert {s.name: (s.state, s.error) for s in mgr.status()}["x"] == ("failed", problem)
    async with mgr:
        status = {s.name: s for s in mgr.status()}
        assert (status["x"].state, status["x"].error, status["x"].kind) == (
            "failed",
            problem,
            "stdio",
        )
        assert (await mgr.call_tool("add", {"a": 1, "b": 1})).data == 2
        with pytest.raises(ServerMisconfigured) as refused:
            await mgr.call_tool("x:anything")
        assert str(refused.value) == f"MCP server 'x' is not available: {problem}"
        assert not refused.value.transient
        await mgr.warm_up(["x:anything"])  # nothing to start, nothing raised
    assert not (tmp_path / "logs" / "mcp-x.log").exists()  # never started


async def test_a_server_log_that_is_a_symbolic_link_is_not_written_through(
    tmp_path: Path,
) -> None:
    """The log a stdio server writes to is private: a link planted there fails that server
    with the reason, and the file it points at is left alone; the other servers work."""
    logs = tmp_path / "logs"
    logs.mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("not taskagent's\n")
    (logs / "mcp-echo.log").symlink_to(target)
    mgr = McpManager(log_dir=logs, connect_timeout=15)
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_configured({"echo": echo_spec()})
    async with mgr:
        status = {s.name: s for s in mgr.status()}
        assert status["echo"].state == "failed"
        assert "symbolic link" in (status["echo"].error or "")
        assert (await mgr.call_tool("add", {"a": 1, "b": 1})).data == 2
    assert target.read_text() == "not taskagent's\n"
    assert echo_children() == []


@pytest.mark.slow
async def test_broken_servers_are_reported_and_the_rest_work(tmp_path: Path) -> None:
    mgr = McpManager(log_dir=tmp_path / "logs", connect_timeout=15)
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_configured(
        {
            "ghost": StdioServerSpec(command="taskagent-no-such-command-xyz"),
            "crashy": echo_spec(ECHO_SERVER_FAIL="fatal: COINGECKO_API_KEY is not set"),
            "lost": StdioServerSpec(command=sys.executable, cwd=str(tmp_path / "nowhere")),
            "remote": HttpServerSpec(url="http://127.0.0.1:9/mcp"),
        }
    )
    async with mgr:
        status = {s.name: s for s in mgr.status()}
        assert status["alpha"].state == "connected"
        assert status["ghost"].state == "failed"
        assert status["ghost"].error == "command not found: taskagent-no-such-command-xyz"
        assert status["crashy"].kind == "stdio"
        assert status["crashy"].error == (
            "exited during start-up: fatal: COINGECKO_API_KEY is not set"
        )
        assert status["lost"].error == f"working directory not found: {tmp_path / 'nowhere'}"
        assert status["remote"].kind == "http" and status["remote"].state == "failed"
        assert status["remote"].error.startswith("cannot connect to http://127.0.0.1:9/mcp")
        assert all(s.tool_count == 0 for n, s in status.items() if n != "alpha")

        assert (await mgr.call_tool("add", {"a": 1, "b": 1})).data == 2
        with pytest.raises(ServerUnavailable, match="command not found"):
            await mgr.call_tool("ghost:anything")
        # A tool that might live on a server that is down says so.
        with pytest.raises(ToolNotFound, match=r"not available: ghost, crashy, lost, remote"):
            mgr.resolve("get_prices")
    log_text = (tmp_path / "logs" / "mcp-crashy.log").read_text()
    assert "echo_server: loading config" in log_text


# ---------------------------------------------------------------------------------------------
# A real stdio server


@pytest.mark.slow
async def test_stdio_server_session_env_logs_crash_and_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARENT_ONLY_SECRET", "s3cret")
    script = tmp_path / "echo_server.py"
    script.write_bytes(ECHO_SERVER.read_bytes())
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "echo": {
                        "command": sys.executable,
                        "args": [str(script)],
                        "env": {"ECHO_TOKEN": "abc"},
                    }
                }
            }
        )
    )
    log_dir = tmp_path / "logs"
    mgr = McpManager(log_dir=log_dir, extra_env={"TASKAGENT_HOME": str(tmp_path)})
    mgr.add_configured(load_mcp_config(config))
    async with mgr:
        assert mgr.status()[0].state == "connected"
        assert mgr.resolve("echo").ref == "echo:echo"

        first = (await mgr.call_tool("echo:pid")).data
        assert (await mgr.call_tool("echo:pid")).data == first  # same session, same process
        assert mgr.session_count("echo") == 1

        # Only the safe base + extra env + the server's env reach the child.
        getenv = "echo:getenv"
        assert (await mgr.call_tool(getenv, {"name": "ECHO_TOKEN"})).data == "abc"
        assert (await mgr.call_tool(getenv, {"name": "TASKAGENT_HOME"})).data == str(tmp_path)
        assert (await mgr.call_tool(getenv, {"name": "PATH"})).data == os.environ["PATH"]
        assert (await mgr.call_tool(getenv, {"name": "PARENT_ONLY_SECRET"})).data is None

        # The child's stderr goes to its log file, never to ours.
        assert (await mgr.call_tool("shout", {"text": "hello"})).data == "HELLO"
        with pytest.raises(ToolCallError, match=r"^no such coin$"):
            await mgr.call_tool("echo:fail", {"message": "no such coin"})
        with pytest.raises(ToolTimeout, match=r"tool 'echo:slow' did not answer within 0\.3 s"):
            await mgr.call_tool("echo:slow", {"seconds": 3}, timeout=0.3)
        log_text = (log_dir / "mcp-echo.log").read_text()
        assert STDERR_MARKER in log_text and "shout: hello" in log_text
        err = capfd.readouterr().err
        assert STDERR_MARKER not in err and "shout: hello" not in err
        # A timeout ends that session and its server: the next call starts a new one.
        assert await wait_dead([first]) == []
        renewed = (await mgr.call_tool("echo:pid")).data
        assert renewed != first

        # Kill the server: the next call reconnects to a new process and works.
        os.kill(renewed, signal.SIGKILL)
        assert await wait_dead([renewed]) == []
        second = (await mgr.call_tool("echo:pid")).data
        assert second != renewed
        assert (await mgr.call_tool("echo", {"text": "back"})).data == "back"
        assert mgr.status()[0].state == "connected"
        assert mgr.session_count("echo") == 1

        # If it dies and cannot start again, the call and the status say why.
        script.unlink()
        os.kill(second, signal.SIGKILL)
        assert await wait_dead([second]) == []
        with pytest.raises(ServerUnavailable, match=r"exited during start-up: .*can't open file"):
            await mgr.call_tool("echo:pid")
        status = mgr.status()[0]
        assert status.state == "failed" and "can't open file" in (status.error or "")
        assert mgr.session_count("echo") == 0
    assert mgr.session_count() == 0
    assert await wait_dead([second]) == []
    assert echo_children() == []


@pytest.mark.slow
async def test_http_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (tmp_path / "http.log").open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ECHO_SERVER), "--http", str(port), stderr=log, stdout=log
        )
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        await until(listening, what="the HTTP echo server listens")
        spec = HttpServerSpec(url=f"http://127.0.0.1:{port}/mcp", headers={"X-Test": "1"})
        mgr = McpManager(log_dir=tmp_path / "logs")
        mgr.add_configured({"web": spec})
        async with mgr:
            assert mgr.status()[0].kind == "http"
            assert (await mgr.call_tool("web:echo", {"text": "over http"})).data == "over http"
            assert (await mgr.call_tool("web:pid")).data == proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


# ---------------------------------------------------------------------------------------------
# Several event loops


@pytest.mark.slow
async def test_worker_loops_each_get_one_persistent_session(tmp_path: Path) -> None:
    mgr = McpManager(log_dir=tmp_path / "logs", call_timeout=20)
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_configured({"echo": echo_spec()})
    await mgr.start()
    main_pid = (await mgr.call_tool("echo:pid")).data

    # Like the runner: every worker thread owns an event loop for its lifetime.
    local = threading.local()
    barrier = threading.Barrier(4)

    def init() -> None:
        local.loop = asyncio.new_event_loop()

    def on_worker(make: Callable[[], Any]) -> Any:
        barrier.wait(timeout=20)  # one job per thread: all 4 loops are used
        return local.loop.run_until_complete(make())

    async def job(i: int) -> tuple[int, int, bool]:
        pid = (await mgr.call_tool("echo:pid")).data
        sums = [(await mgr.call_tool("add", {"a": i, "b": k})).data for k in range(10)]
        return threading.get_ident(), pid, sums == [i + k for k in range(10)]

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(4, initializer=init) as pool:

        async def round_(make: Callable[[int], Callable[[], Any]]) -> list[Any]:
            futures = [loop.run_in_executor(pool, on_worker, make(i)) for i in range(4)]
            return await asyncio.gather(*futures)

        first = await round_(lambda i: lambda: job(i))
        assert all(ok for _, _, ok in first)
        pids = {thread: pid for thread, pid, _ in first}
        assert len(pids) == 4 and len(set(pids.values())) == 4 and main_pid not in pids.values()
        assert mgr.session_count("echo") == 5  # 4 worker loops + the main loop
        assert mgr.session_count("alpha") == 5

        second = await round_(lambda i: lambda: job(i + 100))
        assert all(ok for _, _, ok in second)
        assert {thread: pid for thread, pid, _ in second} == pids  # sessions were reused
        assert mgr.session_count("echo") == 5

        await round_(lambda i: mgr.close_for_current_loop)
        assert mgr.session_count() == 2  # the main loop's echo + alpha
        assert await wait_dead(list(pids.values())) == []

        def close_loop() -> None:
            barrier.wait(timeout=20)
            local.loop.close()

        await asyncio.gather(*(loop.run_in_executor(pool, close_loop) for _ in range(4)))

    assert (await mgr.call_tool("echo:pid")).data == main_pid
    await mgr.close()
    assert await wait_dead([main_pid]) == []
    assert echo_children() == []


@pytest.mark.slow
async def test_close_reaches_sessions_of_other_running_loops(tmp_path: Path) -> None:
    mgr = McpManager(log_dir=tmp_path / "logs")
    mgr.add_builtin("alpha", make_alpha())
    mgr.add_configured({"echo": echo_spec()})

    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:

        async def use() -> int:
            await mgr.start()  # every session lives on the other loop
            assert (await mgr.call_tool("alpha:add", {"a": 1, "b": 2})).data == 3
            return (await mgr.call_tool("echo:pid")).data

        other_pid = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(use(), other))
        assert mgr.session_count() == 2

        await mgr.close()  # from this loop: closes them through the other, running loop
        assert mgr.session_count() == 0
        assert await wait_dead([other_pid]) == []
        assert echo_children() == []
        # A closed manager refuses new sessions instead of spawning orphans.
        with pytest.raises(ServerUnavailable, match="closed"):
            await mgr.call_tool("echo:pid")
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(timeout=5)
        other.close()


async def test_sessions_of_stopped_loops_survive_close_until_their_thread_closes_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mgr = McpManager(log_dir=tmp_path)
    mgr.add_builtin("alpha", make_alpha())
    await mgr.start()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        worker_loop: asyncio.AbstractEventLoop = await loop.run_in_executor(
            pool, asyncio.new_event_loop
        )

        def on_worker(make: Callable[[], Any]) -> Any:
            return worker_loop.run_until_complete(make())

        result = await loop.run_in_executor(
            pool, on_worker, lambda: mgr.call_tool("alpha:add", {"a": 1, "b": 1})
        )
        assert result.data == 2 and mgr.session_count() == 2

        # Between jobs the worker's loop is stopped: close() cannot run anything on it.
        with caplog.at_level(logging.WARNING, logger="taskagent.core.mcp"):
            await mgr.close()
        assert "stay open until their threads call close_for_current_loop()" in caplog.text
        assert mgr.session_count() == 1

        await loop.run_in_executor(pool, on_worker, mgr.close_for_current_loop)
        assert mgr.session_count() == 0
        await loop.run_in_executor(pool, worker_loop.close)


# ---------------------------------------------------------------------------------------------
# mcp.json


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    return path


def test_config_missing_or_empty_file_means_no_servers(tmp_path: Path) -> None:
    assert load_mcp_config(tmp_path / "absent.json") == {}
    assert load_mcp_config(write(tmp_path, "  \n")) == {}
    assert load_mcp_config(write(tmp_path, "{}")) == {}


def test_config_accepts_the_claude_desktop_format(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            {
                "mcpServers": {
                    "files": {
                        "command": "npx",
                        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                        "env": {"DEBUG": "1"},
                        "cwd": "servers",
                    },
                    "web": {"url": "https://example.com/mcp", "headers": {"Authorization": "x"}},
                    "old": {"url": "http://localhost:8000/sse", "transport": "sse"},
                    "typed": {"type": "http", "url": "http://localhost:8001/mcp"},
                    "off": {"command": "nothing", "disabled": True},
                },
                "globalShortcut": "ignored",
            }
        ),
    )
    specs = load_mcp_config(path)
    assert specs == {
        "files": StdioServerSpec(
            command="npx",
            args=("-y", "@modelcontextprotocol/server-filesystem", "/tmp"),
            env={"DEBUG": "1"},
            cwd=str(tmp_path / "servers"),
        ),
        "web": HttpServerSpec(url="https://example.com/mcp", headers={"Authorization": "x"}),
        "old": HttpServerSpec(url="http://localhost:8000/sse", transport="sse"),
        "typed": HttpServerSpec(url="http://localhost:8001/mcp"),
    }
    assert specs["files"].kind == "stdio" and specs["old"].kind == "http"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}', "invalid JSON at line 3"),
        ("[]", "the top level must be a JSON object"),
        ('{"mcpServers": []}', "'mcpServers' must be an object"),
        ('{"mcpServers": {"a": "npx"}}', "server 'a': must be an object, got string"),
        ('{"mcpServers": {"a": {"args": []}}}', "server 'a': needs 'command' (a stdio server)"),
        ('{"mcpServers": {"a": {"command": ""}}}', "server 'a': 'command' must be a non-empty"),
        (
            '{"mcpServers": {"a": {"command": "x", "args": "-y"}}}',
            "server 'a': 'args' must be a list of strings, got string",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "args": ["--port", 80]}}}',
            "server 'a': 'args' item 1 must be a string, got number: 80",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "env": {"PORT": 8080}}}}',
            "server 'a': 'env' value for 'PORT' must be a string, got number: 8080",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "env": ["A=1"]}}}',
            "server 'a': 'env' must be an object of strings, got array",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}',
            "server 'a': has both 'command' and 'url'",
        ),
        ('{"mcpServers": {"a": {"url": "ftp://h"}}}', "server 'a': 'url' must be an http://"),
        (
            '{"mcpServers": {"a": {"url": "http://h", "headers": {"X": 1}}}}',
            "server 'a': 'headers' value for 'X' must be a string",
        ),
        ('{"mcpServers": {"a": {"url": "http://h", "type": "ws"}}}', "unknown transport 'ws'"),
        ('{"mcpServers": {"a:b": {"command": "x"}}}', "server 'a:b': the name must not contain"),
        ('{"mcpServer": {"a": {"command": "x"}}}', "unknown key 'mcpServer' (did you mean 'mcp"),
        ('{"mcpServers": {"a": {"command": 5}}}', "server 'a': 'command' must be a non-empty"),
        ('{"mcpServers": {"a": {"command": " "}}}', "server 'a': 'command' must be a non-empty"),
        (
            '{"mcpServers": {"a": {"command": "x", "cwd": 5}}}',
            "server 'a': 'cwd' must be a non-empty string, got number",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "cwd": ""}}}',
            "server 'a': 'cwd' must be a non-empty string, got string",
        ),
        (
            '{"mcpServers": {"a": {"url": "http://h", "headers": null}}}',
            "server 'a': 'headers' must be an object of strings, got null",
        ),
        ('{"mcpServers": {"a": {"url": 5}}}', "server 'a': 'url' must be an http://"),
        (
            '{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}',
            "server 'a': 'disabled' must be true or false, got string",
        ),
        (
            '{"mcpServers": {"a": {"command": "x", "type": "sse"}}}',
            "server 'a': transport 'sse' needs 'url', not 'command'",
        ),
        (
            '{"mcpServers": {"a": {"url": "http://h", "transport": "stdio"}}}',
            "server 'a': transport 'stdio' needs 'command', not 'url'",
        ),
        ('{"mcpServers": {"a": {"url": "http://h", "type": 1}}}', "'type' must be a string"),
        ('{"mcpServers": {" ": {"command": "x"}}}', "a server has an empty name"),
    ],
)
def test_config_errors_name_the_file_the_server_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    """A problem of the file (or of a server's name) stops the file; a problem of one entry's
    fields fails that server alone, which is then shown with the problem."""
    path = write(tmp_path, text)
    try:
        specs = load_mcp_config(path)
    except McpConfigError as exc:
        assert exc.path == path
        assert str(exc).startswith(f"{path}: ")
        said = str(exc)
    else:
        (spec,) = specs.values()
        assert isinstance(spec, BrokenServerSpec), spec
        assert spec.problem.startswith("mcp.json: ")
        said = f"server 'a': {spec.problem.removeprefix('mcp.json: ')}"
    assert message in said


def test_a_bad_entry_fails_only_its_server(tmp_path: Path) -> None:
    servers = {"x": {"command": "python3", "args": "not-a-list"}, "good": {"command": "x"}}
    path = write(tmp_path, json.dumps({"mcpServers": servers}))
    assert load_mcp_config(path) == {
        "x": BrokenServerSpec("mcp.json: 'args' must be a list of strings, got string"),
        "good": StdioServerSpec(command="x"),
    }


def test_config_leaves_keys_of_other_clients_alone(tmp_path: Path) -> None:
    """Keys we do not use are not checked, whatever fastmcp's model would make of them."""
    entry = {"command": "x", "timeout": "soon", "description": 5, "autoApprove": ["*"]}
    path = write(tmp_path, json.dumps({"mcpServers": {"a": entry}, "servers": {}}))
    assert load_mcp_config(path) == {"a": StdioServerSpec(command="x")}


def test_config_transport_names_other_clients_use(tmp_path: Path) -> None:
    servers = {
        "a": {"type": "streamable-http", "url": "http://h/sse"},
        "b": {"transport": "SSE", "url": "http://h/mcp"},
        "c": {"type": "STDIO", "command": "x"},
    }
    path = write(tmp_path, json.dumps({"mcpServers": servers}))
    assert load_mcp_config(path) == {
        "a": HttpServerSpec(url="http://h/sse"),
        "b": HttpServerSpec(url="http://h/mcp", transport="sse"),
        "c": StdioServerSpec(command="x"),
    }


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}')
    with pytest.raises(McpConfigError, match=r"line 3, column 26: Expecting property name"):
        load_mcp_config(path)


def test_child_env_is_a_safe_base_plus_what_was_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARENT_ONLY_SECRET", "s3cret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = build_child_env({"API_KEY": "k", "LANG": "de_DE.UTF-8"}, {"TASKAGENT_HOME": "/h"})
    assert "PARENT_ONLY_SECRET" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert env["API_KEY"] == "k" and env["TASKAGENT_HOME"] == "/h"
    assert env["LANG"] == "de_DE.UTF-8"  # the server's own env wins


async def test_images_audio_and_resources_are_described_not_dropped(tmp_path: Path) -> None:
    """A result of only non-text blocks used to be recorded as "no data" (null)."""
    media = FastMCP("media")

    @media.tool
    def picture() -> Image:
        return Image(data=b"\x89PNG" + bytes(96), format="png")

    @media.tool
    def sound() -> Audio:
        return Audio(data=bytes(300), format="wav")

    @media.tool
    def link() -> mcp_types.ResourceLink:
        return mcp_types.ResourceLink(name="report", uri="file:///tmp/report.pdf")

    @media.tool
    def captioned() -> list[Any]:
        return ["a caption", Image(data=bytes(30), format="png")]

    mgr = McpManager(log_dir=tmp_path)
    mgr.add_builtin("media", media)
    async with mgr:
        assert (await mgr.call_tool("picture")).data == "[image image/png, 100 bytes]"
        assert (await mgr.call_tool("sound")).data == "[audio audio/wav, 300 bytes]"
        assert (await mgr.call_tool("link")).data == "[resource link report file:///tmp/report.pdf]"
        captioned = await mgr.call_tool("captioned")
        assert captioned.text.splitlines() == ["a caption", "[image image/png, 30 bytes]"]


async def test_a_server_frozen_by_a_blocking_tool_is_replaced_after_the_timeout(
    tmp_path: Path,
) -> None:
    """A tool that blocks its server's loop times out; the session and the process go, so an
    unrelated call to the same server works at once instead of queueing behind it."""
    mgr = McpManager(log_dir=tmp_path / "logs", call_timeout=10)
    mgr.add_configured({"echo": echo_spec()})
    async with mgr:
        frozen = (await mgr.call_tool("echo:pid")).data
        with pytest.raises(ToolTimeout):
            await mgr.call_tool("echo:block", {"seconds": 30}, timeout=0.5)
        assert (await mgr.call_tool("echo:echo", {"text": "hi"}, timeout=10)).data == "hi"
        assert (await mgr.call_tool("echo:pid")).data != frozen
        assert await wait_dead([frozen]) == []  # no frozen server left behind
        assert mgr.session_count("echo") == 1


async def test_a_server_whose_calls_keep_timing_out_is_shown_freezing(tmp_path: Path) -> None:
    mgr = McpManager(log_dir=tmp_path / "logs", call_timeout=10)
    mgr.add_configured({"echo": echo_spec()})
    async with mgr:
        for _ in range(2):
            with pytest.raises(ToolTimeout):
                await mgr.call_tool("echo:block", {"seconds": 30}, timeout=0.3)
        (status,) = mgr.status()
        assert status.state == "freezing"
        assert status.error == (
            "2 calls in a row did not answer in time; its server is restarted after each"
        )
        assert (await mgr.call_tool("echo:echo", {"text": "back"})).data == "back"
        (status,) = mgr.status()
        assert (status.state, status.error) == ("connected", None)


async def test_a_call_cut_at_the_runs_own_limit_counts_as_not_answering(tmp_path: Path) -> None:
    """A run bounds its call twice, by its own deadline around it and by the call's timeout
    with the same end; the outer one fires first. Such a cut is a call that did not answer in
    time; a cut before the call's time is up (a stop) is not."""
    mgr = McpManager(log_dir=tmp_path / "logs", call_timeout=10)
    mgr.add_configured({"echo": echo_spec()})

    async def cut(after: float, call_limit: float) -> None:
        await mgr.call_tool("echo:pid")  # connected, so the cut falls in the call itself
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(after):
                await mgr.call_tool("echo:block", {"seconds": 30}, timeout=call_limit)

    async def timed_out() -> None:  # the call's own timeout, on the fresh server
        with pytest.raises(ToolTimeout):
            await mgr.call_tool("echo:block", {"seconds": 30}, timeout=0.3)

    async with mgr:
        await cut(after=0.3, call_limit=10)  # a stop: not counted
        await timed_out()
        (status,) = mgr.status()
        assert status.state == "connected"

        await cut(after=0.5, call_limit=0.5)  # the run's limit: counted
        await timed_out()
        (status,) = mgr.status()
        assert status.state == "freezing"
