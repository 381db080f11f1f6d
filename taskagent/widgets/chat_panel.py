"""The chat: a bounded log of messages and an input with history and slash-command completion.

One instance serves both the Chat tab (full width) and the side pane (narrow, beside any tab).
Slash commands go to the core's SlashCommands; `/tasks add` opens the task form and `/quit`
quits. Free text goes to `reply_source` when one is plugged in (the AI chat session: any
callable returning an async iterator of Markdown chunks), streamed with `append_stream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from taskagent.app import TaskAgentApp
    from taskagent.core.slash import Reply
    from taskagent.core.ui_queries import AwaySummary

# core.slash imports the chat session and with it fastmcp/google-genai (~1 s): it is imported
# when the core is ready (off the first paint), never at module import.

MAX_ENTRIES = 400
UI_COMMANDS = {"/tasks add": "open the task form"}
ReplySource = Callable[[str], AsyncIterator[str]]


def completions() -> list[str]:
    from taskagent.core.slash import COMMANDS

    words = [usage.split(" <")[0].split(" [")[0] for usage in (c.usage for c in COMMANDS.values())]
    return sorted({*words, *UI_COMMANDS, "/tasks"})


class ChatInput(Input):
    """An Input with shell-like history on up/down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("escape", "leave", "Leave input", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._position = 0

    def remember(self, line: str) -> None:
        if not self.history or self.history[-1] != line:
            self.history.append(line)
        self._position = len(self.history)

    def action_leave(self) -> None:
        """Escape: focus the log, so the single-key shortcuts (1-4, ?) work."""
        if self.parent is not None:
            self.parent.query_one("#chat-log").focus()

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)


class ChatPanel(Vertical):
    DEFAULT_CSS = """
    ChatPanel { height: 1fr; }
    ChatPanel #chat-log { height: 1fr; border: round $primary-background; padding: 0 1; }
    ChatPanel #chat-log > .msg { margin: 0 0 1 0; }
    ChatPanel #chat-log > .user { color: $accent; text-style: bold; }
    ChatPanel #chat-log > .error { color: $error; }
    ChatPanel #chat-log > .system { color: $text-muted; }
    ChatPanel #chat-log > .away { border-left: thick $warning; padding-left: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reply_source: ReplySource | None = None
        self._explained_no_key = False

    @property
    def tapp(self) -> TaskAgentApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="chat-log")
        yield ChatInput(
            placeholder="Type /help, a slash command, or a request",
            id="chat-input",
        )

    def on_mount(self) -> None:
        self.write_system("Welcome to taskagent. Type /help for the commands, ? for the keys.")

    def enable_completion(self) -> None:
        """Called once the core is up: slash-command completion (right arrow accepts)."""
        self.query_one(ChatInput).suggester = SuggestFromList(completions(), case_sensitive=False)

    def focus_input(self) -> None:
        self.query_one(ChatInput).focus()

    # ---- writing -----------------------------------------------------------------------------

    def _log(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    def _add(self, widget: Widget) -> None:
        log = self._log()
        at_end = log.is_vertical_scroll_end
        log.mount(widget)
        extra = len(log.children) - MAX_ENTRIES
        if extra > 0:
            for old in list(log.children)[:extra]:
                old.remove()
        if at_end:
            log.call_after_refresh(log.scroll_end, animate=False)

    def write(self, text: str | Text, kind: str = "reply") -> None:
        self._add(Static(text, classes=f"msg {kind}", markup=False))

    def write_system(self, text: str) -> None:
        self.write(text, "system")

    def write_error(self, text: str) -> None:
        self.write(text, "error")

    def write_away(self, summary: AwaySummary) -> None:
        self.write(Text(summary.text() + "\nPress F7 to see these runs in History."), "away")

    def clear(self) -> None:
        self._log().remove_children()

    async def append_stream(self, chunks: AsyncIterable[str]) -> str:
        """Stream a Markdown reply into the log as it arrives; returns the whole text."""
        from textual.widgets import Markdown  # markdown-it is imported only when needed

        view = Markdown(classes="msg reply")
        self._add(view)
        stream = Markdown.get_stream(view)
        parts: list[str] = []
        try:
            async for chunk in chunks:
                parts.append(chunk)
                await stream.write(chunk)
        finally:
            await stream.stop()
        return "".join(parts)

    # ---- input -------------------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        self.query_one(ChatInput).remember(text)
        self.write(f"> {text}", "user")
        if text.startswith("/"):
            self.run_command(text)
        elif self.reply_source is not None:
            self.stream_reply(text)
        else:
            self.explain_no_agent()

    def explain_no_agent(self) -> None:
        settings = self.tapp.settings
        if settings is not None and not settings.has_ai_key:
            if not self._explained_no_key:
                self._explained_no_key = True
                self.write_system(
                    "AI chat is off: set GEMINI_API_KEY (or GOOGLE_API_KEY) and restart to talk "
                    "to the agent. Slash commands work without a key: try /help."
                )
            else:
                self.write_system("AI chat is off (no API key); slash commands: /help")
            return
        self.write_system("The AI agent is not available yet; use slash commands (/help).")

    @work(group="chat")
    async def stream_reply(self, text: str) -> None:
        assert self.reply_source is not None
        try:
            await self.append_stream(self.reply_source(text))
        except Exception as exc:
            self.write_error(f"the agent failed: {exc}")

    def run_command(self, text: str) -> None:
        head = " ".join(text.lower().split()[:2])
        if head == "/tasks add":
            self.tapp.query_one("TasksView").action_add()  # type: ignore[attr-defined]
            return
        if head == "/quit":
            self.app.exit(0)
            return

        async def job(services: Any) -> Reply:
            return await self.slash(services).execute(text)

        if not self.tapp.ready:
            self.write_system("starting… the command runs as soon as the core is ready")
        self.tapp.call_core(job, done=self.show_reply, node=self, group="chat", what=text)

    def slash(self, services: Any) -> Any:
        from taskagent.core.slash import SlashCommands

        return SlashCommands(
            services.tasks,
            engine=getattr(services, "engine", None),
            mcp=services.mcp,
            repo=services.repo,
            chat=getattr(services, "chat", None),
            status=services.status,
            timezone=services.tasks.default_timezone,
        )

    def show_reply(self, reply: Reply) -> None:
        if reply.action == "quit":
            self.app.exit(0)
            return
        if reply.action == "clear":
            self.clear()
            return
        if reply.action == "open_task_form":
            self.tapp.query_one("TasksView").action_add()  # type: ignore[attr-defined]
            return
        if reply.action == "confirm" and reply.confirm_command:
            from taskagent.screens.confirm import ConfirmScreen

            command = reply.confirm_command

            def answered(yes: bool | None) -> None:
                if yes:
                    self.run_command(command)
                else:
                    self.write_system("cancelled")

            self.app.push_screen(ConfirmScreen(reply.text, confirm="Yes"), answered)
            return
        if reply.error:
            self.write_error(reply.text)
        else:
            self.write(reply.text)
