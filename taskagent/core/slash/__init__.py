"""Slash commands typed in the chat input: parsing and execution, with no UI code.

* registry.py       COMMANDS (usage + help each), Reply, CommandError, needs_agent, parsing
* commands.py       SlashCommands: a line in, a Reply out (dispatch, /help, /quit)
* task_commands.py  /tasks and its actions
* chat_commands.py  /model, /system, /settings, /tokens, /compress, /clear
* mcp_commands.py   /mcp
* format.py         columns, durations and local times for the answers

Light to import (the app's first screen uses it): the chat package is imported on use.
"""

from taskagent.core.slash.commands import SlashCommands
from taskagent.core.slash.registry import (
    COMMANDS,
    TASK_ACTIONS,
    Command,
    CommandError,
    Reply,
    help_text,
    needs_agent,
)
from taskagent.core.slash.task_commands import StatusProvider

__all__ = [
    "COMMANDS",
    "TASK_ACTIONS",
    "Command",
    "CommandError",
    "Reply",
    "SlashCommands",
    "StatusProvider",
    "help_text",
    "needs_agent",
]
