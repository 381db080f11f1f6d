"""/mcp: the MCP servers and their state, or one server's tools and how the chat treats them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskagent.core.slash.registry import CommandError, Reply

if TYPE_CHECKING:
    from taskagent.core.chat import ChatSession
    from taskagent.core.mcp import McpManager, ToolInfo


class McpCommands:
    def __init__(self, mcp: McpManager | None, chat: ChatSession | None = None) -> None:
        self.mcp = mcp
        self.chat = chat

    async def run(self, words: list[str]) -> Reply:
        mcp = self.mcp
        if mcp is None:
            raise CommandError("/mcp: the MCP manager is not available here")
        if len(words) > 1:
            raise CommandError("/mcp takes at most one server name", "/mcp")
        if not words:
            return Reply(self._servers(mcp))
        return Reply(await self._server(mcp, words[0]))

    def _servers(self, mcp: McpManager) -> str:
        servers = mcp.status()
        if not servers:
            return "no MCP servers configured"
        lines = [
            f"{s.name:<14} {s.kind:<8} {s.state:<12} {s.tool_count} tool(s)"
            + (f"  error: {s.error}" if s.error else "")
            for s in servers
        ]
        lines.append("/mcp <server> lists a server's tools")
        lines.extend(self._confirm_lines())
        return "\n".join(lines)

    async def _server(self, mcp: McpManager, name: str) -> str:
        # Imported on use: the chat package pulls in fastmcp (see chat_commands.py).
        from taskagent.core.chat.text import first_paragraph

        servers = mcp.status()
        match = next((s for s in servers if s.name == name), None)
        if match is None:
            names = ", ".join(s.name for s in servers) or "none"
            raise CommandError(f"no MCP server '{name}' (servers: {names})", "/mcp")
        tools = [t for t in await mcp.list_tools() if t.server == name]
        head = f"{match.name} ({match.kind}, {match.state}): {len(tools)} tool(s)"
        if match.error:
            head += f"; error: {match.error}"
        lines = [head]
        width = max((len(t.name) for t in tools), default=0)
        for t in sorted(tools, key=lambda t: t.name):
            lines.append(
                f"  {t.name.ljust(width)}  {self._tool_mode(t):<10} "
                f"{first_paragraph(t.description, 120)}".rstrip()
            )
        lines.extend(self._confirm_lines())
        return "\n".join(lines)

    def _tool_mode(self, tool: ToolInfo) -> str:
        """How the chat treats a call of this tool: read-only, asks, or allowed."""
        if self.chat is None:
            return "read-only" if tool.read_only else "writes"
        decision = self.chat.policy.decide(tool.ref, tool)
        if decision.ask:
            return "asks"
        return "read-only" if decision.reason == "read-only" else "allowed"

    def _confirm_lines(self) -> list[str]:
        if self.chat is None:
            return []
        policy = self.chat.policy
        allowed = ", ".join(policy.patterns) or "none"
        lines = [f"chat: asks before any tool not marked read-only; [chat] always_allow: {allowed}"]
        if policy.allowed_in_conversation:
            lines.append(
                "allowed for this conversation (a): "
                + ", ".join(sorted(policy.allowed_in_conversation))
            )
        return lines
