"""The AI agent behind the chat pane (no UI code here).

One conversation with Gemini (google-genai async, streamed) that can call every tool of every
configured MCP server through the McpManager. The UI drives it like this::

    async for event in session.send("check bitcoin every hour"):
        match event:
            case TextDelta(text):             append text to the reply being streamed
            case ToolCallStarted() | ToolCallFinished():   show a tool line
            case ConfirmationNeeded():        show a card; the user's answer goes to
                                              session.confirm(event.id, approved)
            case Notice(text) | TurnFailed(text):          one line
            case TurnFinished():              the reply is complete (tokens, rounds)

The modules, in the order a message meets them:

* session.py   ChatSession: settings, history views, send(), confirm(), compress()
* turn.py      one message's rounds: stream, run the calls, store the turn
* tools.py     one function call: ask first where needed, run it, answer the model
* confirm.py   which calls wait for a yes (with core/confirm_policy.py) and their cards
* prompt.py    the system instruction and the tool declarations (ToolNames)
* compress.py  /compress: older turns replaced by a summary
* store.py     ChatStore: every chat_messages query and the chat's settings keys
* messages.py  the conversation in memory (StoredMessage, History) and Content helpers
* events.py, settings.py, failures.py, text.py: the events, /settings, error lines, helpers

Importing this package imports the MCP manager (fastmcp, ~1 s): code on the app's first
screen imports it on use.
"""

from taskagent.core.chat.chat_events import (
    ChatEvent,
    ConfirmationNeeded,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
    TurnFinished,
)
from taskagent.core.chat.chat_settings import (
    CHAT_MODELS,
    CHAT_SETTINGS,
    MAX_MODEL_NAME,
    MAX_SYSTEM_CHARS,
    ChatSetting,
    find_setting,
)
from taskagent.core.chat.compress import KEEP_TURNS, CompressError
from taskagent.core.chat.confirm_cards import CardMaker, Confirmations
from taskagent.core.chat.failures import NO_KEY_SHORT, NO_KEY_TEXT, failure_line
from taskagent.core.chat.messages import MAX_RESULT_CHARS, ChatLine, TurnTokens
from taskagent.core.chat.session import CONFIRM_TOOLS, DEFAULT_SESSION, ChatSession
from taskagent.core.chat.store import ChatStore
from taskagent.core.chat.system_prompt import (
    DEFAULT_SYSTEM_INSTRUCTION,
    TRUST_RULES,
    UNTRUSTED_LABEL,
    ToolNames,
)
from taskagent.core.chat.text import compact, first_paragraph, one_line

__all__ = [
    "CHAT_MODELS",
    "CHAT_SETTINGS",
    "CONFIRM_TOOLS",
    "DEFAULT_SESSION",
    "DEFAULT_SYSTEM_INSTRUCTION",
    "KEEP_TURNS",
    "MAX_MODEL_NAME",
    "MAX_RESULT_CHARS",
    "MAX_SYSTEM_CHARS",
    "NO_KEY_SHORT",
    "NO_KEY_TEXT",
    "TRUST_RULES",
    "UNTRUSTED_LABEL",
    "CardMaker",
    "ChatEvent",
    "ChatLine",
    "ChatSession",
    "ChatSetting",
    "ChatStore",
    "CompressError",
    "ConfirmationNeeded",
    "Confirmations",
    "Notice",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolNames",
    "TurnFailed",
    "TurnFinished",
    "TurnTokens",
    "compact",
    "failure_line",
    "find_setting",
    "first_paragraph",
    "one_line",
]
