"""Chat tab: a log and an input. Slash commands go to the core's SlashCommands."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog

from taskagent.core.slash import Reply, SlashCommands


class ChatView(Vertical):
    DEFAULT_CSS = """
    ChatView RichLog { height: 1fr; border: round $primary-background; }
    ChatView Input { dock: bottom; }
    """

    def compose(self) -> ComposeResult:
        yield RichLog(id="chat-log", wrap=True, markup=False)
        yield Input(placeholder="Type /help, or a slash command", id="chat-input")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        log.write("Welcome to taskagent. Type /help for the commands.")
        if not self.app.services.settings.has_ai_key:  # type: ignore[attr-defined]
            log.write(
                "AI chat is off: set GEMINI_API_KEY (or GOOGLE_API_KEY) and restart to talk to "
                "the agent. Slash commands work without a key."
            )

    def focus_input(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#chat-input")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        self.query_one(RichLog).write(f"> {text}")
        if text.startswith("/"):
            self.run_command(text)
        else:
            self.query_one(RichLog).write(
                "The AI agent is not wired in yet; use slash commands (/help)."
            )

    @work(exclusive=False, group="chat")
    async def run_command(self, text: str) -> None:
        slash = SlashCommands(self.app.services.tasks)  # type: ignore[attr-defined]
        self.show_reply(await slash.execute(text))

    def show_reply(self, reply: Reply) -> None:
        log = self.query_one(RichLog)
        if reply.action == "quit":
            self.app.exit(0)
            return
        if reply.action == "clear":
            log.clear()
            return
        log.write(("error: " if reply.error else "") + reply.text)
