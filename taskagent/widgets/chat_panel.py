"""The chat: a bounded log of messages and an input with history and slash-command completion.

One instance serves both the Chat tab (full width) and the side pane (narrow, beside any tab).
Slash commands go to the core's SlashCommands; `/tasks add` opens the task form and `/quit`
quits. Anything else goes to the core's ChatSession (`chat.send`), consumed in a worker: the
reply is streamed into a Markdown block as it arrives, tool calls appear as compact cards, and
a confirmation card (Yes / No, or y / n) answers `chat.confirm`. The panel only renders; what
the agent does, and the "no API key" explanation, come from the core.

The panel knows the core only as the two small protocols below (`ChatCore`, `CommandCore`) and
the app only as its `UiHost`: what another screen must do (open the task form, ask "are you
sure?" for a slash command) is a message posted up to the app.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.await_remove import AwaitRemove
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import AwaitMount, Widget
from textual.widgets import Input, Static
from textual.worker import Worker

from taskagent.keys import APP, bindings
from taskagent.ui_host import AddTaskRequested, UiHost, host_of
from taskagent.widgets.chat_cards import ConfirmCard, ToolCard

if TYPE_CHECKING:
    from textual.widgets import Markdown
    from textual.widgets.markdown import MarkdownStream

    from taskagent.core.chat import ChatLine, ChatSession
    from taskagent.core.slash import Reply, SlashCommands
    from taskagent.core.ui_queries import AwaySummary

# core.slash and core.chat import fastmcp/google-genai (~1 s): they are imported when the core
# is ready (off the first paint), never at module import.

WELCOME = (
    "Welcome to taskagent. Type /help for the commands, ? for the keys. With this input empty, "
    "2 3 4 open the other tabs (F4-F6 always)."
)
MAX_ENTRIES = 400
MAX_TRANSCRIPT = 80  # lines of the stored conversation shown when the app opens
UI_COMMANDS = {"/tasks add": "open the task form"}
YES = {"y", "yes"}
NO = {"n", "no"}
ALWAYS = {"a", "always"}
BUSY_SUBTITLE = "the agent is answering…"
WAITING_SUBTITLE = "waiting for your answer: y / n"
WAITING_ALLOW_SUBTITLE = "waiting for your answer: y / n / a (allow for this chat)"


def completions() -> list[str]:
    from taskagent.core.slash import COMMANDS

    words = [usage.split(" <")[0].split(" [")[0] for usage in (c.usage for c in COMMANDS.values())]
    return sorted({*words, *UI_COMMANDS, "/tasks"})


TAB_ACTION = re.compile(r"show_tab\('(\w+)'\)")


class ChatCore(Protocol):
    """What the panel uses of the full core (the app's Services): the chat session, and
    mcp.json's servers still starting (a message waits for their tools)."""

    @property
    def chat(self) -> ChatSession: ...

    def servers_starting(self) -> list[str]: ...

    async def wait_for_servers(self, timeout: float) -> bool: ...  # noqa: ASYNC109


# How long a message typed during start-up waits for mcp.json's servers (each has 30 s to
# connect, all at once) before it is sent without the ones still starting.
SERVER_WAIT_SECONDS = 35.0


class CommandCore(Protocol):
    """What a slash command needs: the database-only core while the agent loads, then the
    full one."""

    def slash_commands(self) -> SlashCommands: ...


class ChatInput(Input):
    """An Input with shell-like history on up/down. While it is empty, the tab keys (1-4, or
    what [keymap] made of them) switch tabs instead of typing (except the tab you are on, so
    "10 coins" still types on the Chat tab) and ? opens the help."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("escape", "leave", "Leave input", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._position = 0

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            # Submitted here, in typing order, and emptied at once: as a binding, Enter would
            # travel through the app first, and text typed right after it (a busy start-up)
            # would land in the line before it was sent.
            event.stop()
            event.prevent_default()
            value, self.value = self.value, ""
            self.post_message(self.Submitted(self, value))
            return
        if not self.value and event.is_printable and self._switch_tab(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def _switch_tab(self, key: str) -> bool:
        """A tab key (or ?, help) pressed in the empty input: do what it does elsewhere."""
        host = host_of(self)
        # The app's own bindings with the user's [keymap] applied (as Textual's screen does;
        # active_bindings leaves out the keys an Input consumes, which these are).
        app_keys = BindingsMap(bindings(APP))
        app_keys.apply_keymap(dict(host.keymap))
        for binding in app_keys.key_to_bindings.get(key, []):
            if binding.action == "help":
                host.action_help()
                return True
            match = TAB_ACTION.fullmatch(binding.action)
            if match is not None and match.group(1) != host.active_tab:
                host.action_show_tab(match.group(1))
                return True
        return False

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


class _ReplyBlock:
    """The Markdown block a reply streams into; a tool card in between starts a new one."""

    def __init__(self, panel: ChatPanel) -> None:
        self.panel = panel
        self.view: Markdown | None = None
        self.stream: MarkdownStream | None = None

    async def write(self, text: str) -> None:
        if self.view is None:
            text = text.lstrip("\n")
            if not text.strip():
                return  # the core's "\n\n" between rounds: the new block is separation enough
            from textual.widgets import Markdown  # markdown-it is imported only when needed

            self.view = Markdown(classes="msg reply")
            await self.panel.add(self.view)
            self.stream = Markdown.get_stream(self.view)
        assert self.stream is not None
        await self.stream.write(text)

    async def end(self) -> None:
        if self.stream is not None:
            await self.stream.stop()
        self.view = self.stream = None


class ChatPanel(Vertical):
    DEFAULT_CSS = """
    ChatPanel { height: 1fr; }
    ChatPanel #chat-log { height: 1fr; border: round $primary-background; padding: 0 1; }
    ChatPanel #chat-log > .msg { margin: 0 0 1 0; }
    ChatPanel #chat-log > .user { color: $accent; text-style: bold; }
    /* a Markdown block ends with its own blank line (the last paragraph's margin) */
    ChatPanel #chat-log > Markdown.reply { margin: 0; padding: 0; background: transparent; }
    ChatPanel #chat-log > .tool {
        margin: 0 0 1 0; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    ChatPanel #chat-log > .table { text-wrap: nowrap; text-overflow: ellipsis; }
    ChatPanel #chat-log > .error { color: $text-error; }
    ChatPanel #chat-log > .notice { color: $text-warning; }
    ChatPanel #chat-log > .system { color: $text-muted; }
    ChatPanel #chat-log > .away { border-left: thick $warning; padding-left: 1; }
    """

    class ConfirmRequested(Message):
        """A slash command asks "are you sure?" (e.g. /tasks remove): the app asks with its
        confirm dialog and calls `answered(yes)`."""

        def __init__(self, question: str, answered: Callable[[bool | None], None]) -> None:
            super().__init__()
            self.question = question
            self.answered = answered

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._turn: Worker[Any] | None = None
        self._chat: ChatSession | None = None  # the session confirmation answers go to
        self.waiting: ConfirmCard | None = None

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="chat-log")
        yield ChatInput(
            placeholder="Type /help, a slash command, or a request (empty: 1-4 switch tabs)",
            id="chat-input",
        )

    def on_mount(self) -> None:
        self._log().anchor()  # follow new messages until the user scrolls up
        self.write_system(WELCOME)

    def services_ready(self, core: ChatCore) -> None:
        """Called once the core is up: completion, and the stored conversation."""
        self.query_one(ChatInput).suggester = SuggestFromList(completions(), case_sensitive=False)
        self._chat = core.chat
        self.show_transcript(core.chat.transcript())

    def focus_input(self) -> None:
        self.query_one(ChatInput).focus()

    @property
    def busy(self) -> bool:
        """A reply is being streamed (or waits for a confirmation)."""
        return self._turn is not None and not self._turn.is_finished

    # ---- writing -----------------------------------------------------------------------------

    def _log(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    def add(self, widget: Widget) -> AwaitMount:
        log = self._log()
        mounted = log.mount(widget)
        extra = len(log.children) - MAX_ENTRIES
        if extra > 0:
            for old in list(log.children)[:extra]:
                old.remove()
        return mounted

    def write(self, text: str | Text, kind: str = "reply") -> None:
        self.add(Static(text, classes=f"msg {kind}", markup=False))

    def write_system(self, text: str) -> None:
        self.write(text, "system")

    def write_error(self, text: str) -> None:
        self.write(text, "error")

    def write_away(self, summary: AwaySummary) -> None:
        self.write(Text(summary.text() + "\nPress F7 to see these runs in History."), "away")

    def clear(self) -> AwaitRemove:
        return self._log().remove_children()

    def show_transcript(self, lines: list[ChatLine]) -> None:
        """The conversation kept by the core, above the welcome line."""
        if not lines:
            return
        from textual.widgets import Markdown

        shown = lines[-MAX_TRANSCRIPT:]
        head = "Earlier conversation"
        if len(lines) > len(shown):
            head += f" (last {len(shown)} of {len(lines)} lines)"
        widgets: list[Widget] = [Static(head + " — /clear forgets it", classes="msg system")]
        for line in shown:
            if line.role == "user":
                widgets.append(Static(f"> {line.text}", classes="msg user", markup=False))
            elif line.role == "assistant":
                widgets.append(Markdown(line.text, classes="msg reply"))
            elif line.role == "tool":
                widgets.append(Static(f"⚙ {line.text}", classes="msg tool", markup=False))
            else:
                text = f"Summary of the older conversation: {line.text}"
                widgets.append(Static(text, classes="msg system", markup=False))
        log = self._log()
        if log.children:
            log.mount_all(widgets, before=0)
        else:
            log.mount_all(widgets)

    # ---- input -------------------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()  # the input was emptied when Enter was pressed
        if not text:
            return
        self.query_one(ChatInput).remember(text)
        self.write(f"> {text}", "user")
        if text.startswith("/"):
            self.run_command(text)
        else:
            self.send_message(text)

    # ---- the agent ---------------------------------------------------------------------------

    def send_message(self, text: str) -> None:
        """Free text: one turn of the core's ChatSession, streamed in a worker."""
        card = self.waiting
        answer = text.lower()
        if card is not None and card.pending and answer in ALWAYS and card.can_allow:
            card.action_always()
            return
        if card is not None and card.pending and answer in YES | NO:
            card.action_answer(answer in YES)
            return
        if self.busy:
            hint = "answer the card above (y / n)" if card is not None else "wait for it"
            self.write(f"The agent is still answering the previous message; {hint}.", "notice")
            return
        if not self.host.ready:
            self.write_system("starting… the message is sent as soon as the core is ready")

        async def job(core: ChatCore) -> None:
            await self._servers_up(core)
            await self._run_turn(core.chat, text)

        self._turn = self.host.call_core(job, node=self, group="chat-turn", what="Chat")

    async def _servers_up(self, core: ChatCore) -> None:
        """A message typed while mcp.json's servers start waits for them (bounded), so the
        model is given their tools; the chat says what it waits for."""
        waiting = core.servers_starting()
        if not waiting:
            return
        names = ", ".join(waiting[:5]) + (", …" if len(waiting) > 5 else "")
        self.write_system(f"waiting for {names}…")
        log = self._log()
        log.border_subtitle = BUSY_SUBTITLE
        if not await core.wait_for_servers(SERVER_WAIT_SECONDS):
            late = ", ".join(core.servers_starting()) or names
            self.write(f"{late} still starting: sent without their tools (see /mcp)", "notice")

    async def _run_turn(self, chat: ChatSession, text: str) -> None:
        from taskagent.core.chat import (
            ConfirmationNeeded,
            Notice,
            TextDelta,
            ToolCallFinished,
            ToolCallStarted,
            TurnFailed,
        )

        log = self._log()
        reply = _ReplyBlock(self)
        tools: dict[str, ToolCard] = {}
        log.border_subtitle = BUSY_SUBTITLE
        self._chat = chat
        try:
            async with contextlib.aclosing(chat.send(text)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        await reply.write(event.text)
                        continue
                    await reply.end()
                    if isinstance(event, ToolCallStarted):
                        tools[event.call_id] = card = ToolCard(event.name, event.args)
                        await self.add(card)
                    elif isinstance(event, ToolCallFinished):
                        tool = tools.get(event.call_id)
                        if tool is None:  # refused before it started (unknown tool)
                            tool = ToolCard(event.name)
                            await self.add(tool)
                        tool.finish(event.ok, event.summary)
                    elif isinstance(event, ConfirmationNeeded):
                        await self._ask(event)
                    elif isinstance(event, Notice):
                        self.write(event.text, "notice")
                    elif isinstance(event, TurnFailed):
                        self.write(f"✗ {event.text}", "error")
                    # TurnFinished: the reply block is closed above
        finally:
            await reply.end()
            if self.waiting is not None and self.waiting.pending:
                self.waiting.close("not answered: the reply ended")
            self.waiting = None
            log.border_subtitle = ""

    async def _ask(self, event: Any) -> None:
        card = ConfirmCard(event)
        self.waiting = card
        await self.add(card)
        self._log().border_subtitle = WAITING_ALLOW_SUBTITLE if card.can_allow else WAITING_SUBTITLE
        focused = self.app.focused
        if focused is None or self in focused.ancestors_with_self:
            card.focus_default()  # y / n work at once; the turn waits for the answer
        self._log().scroll_end(animate=False)
        if not self.display:  # the pane was hidden while the agent worked
            self.app.notify(
                f"{event.title} Answer in the chat (1 or F2).",
                title="The agent asks",
                severity="warning",
                timeout=10,
                markup=False,
            )

    @on(ConfirmCard.Answered)
    def answered(self, event: ConfirmCard.Answered) -> None:
        chat = self._chat
        delivered = chat is not None and chat.confirm(
            event.card.confirmation_id, event.approved, for_conversation=event.always
        )
        if not delivered:
            event.card.close("no longer waiting: the reply has ended")
        if self.waiting is event.card:
            self.waiting = None
            self._log().border_subtitle = BUSY_SUBTITLE if self.busy else ""
        focused = self.app.focused
        if focused is None or self in focused.ancestors_with_self:
            self.focus_input()

    # ---- slash commands ----------------------------------------------------------------------

    def run_command(self, text: str) -> None:
        head = " ".join(text.lower().split()[:2])
        if head == "/tasks add":
            self.post_message(AddTaskRequested())
            return
        if head == "/quit":
            self.app.exit(0)
            return

        async def job(core: CommandCore) -> Reply:
            return await core.slash_commands().execute(text)

        from taskagent.core.slash import needs_agent

        early = not needs_agent(text)  # /tasks list & co. need only the database
        if not self.host.ready and not early:
            self.write_system("starting… the command runs as soon as the core is ready")
        self.host.call_core(
            job, done=self.show_reply, node=self, group="chat", what=text, early=early
        )

    def show_reply(self, reply: Reply) -> None:
        if reply.action == "quit":
            self.app.exit(0)
            return
        if reply.action == "clear":
            self.clear()
            self.write_system(reply.text)
            return
        if reply.action == "open_task_form":
            self.post_message(AddTaskRequested())
            return
        if reply.action == "confirm" and reply.confirm_command:
            command = reply.confirm_command

            def answered(yes: bool | None) -> None:
                if yes:
                    self.run_command(command)
                else:
                    self.write_system("cancelled")

            self.post_message(self.ConfirmRequested(reply.text, answered))
            return
        if reply.error:
            self.write_error(reply.text)
        else:
            self.write(reply.text, "reply table" if reply.table else "reply")
