"""Running the model's function calls: every call goes through the MCP manager, asking the
user first where the confirmation rule says so, and is answered with a ``functionResponse``
``{"result": ...}`` or ``{"error": "..."}``.

Tool output is untrusted data: every result and tool error carries a label saying so (the
instruction tells the model to ignore instructions inside it). Whether a call asks never
depends on what a result says. A declined call does not run and the model is told.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskagent.core import schedules
from taskagent.core.chat.chat_events import ChatEvent, ToolCallFinished, ToolCallStarted
from taskagent.core.chat.confirm_cards import Confirmations
from taskagent.core.chat.messages import fit_result, response_part
from taskagent.core.chat.system_prompt import UNTRUSTED_LABEL, ToolNames
from taskagent.core.chat.text import compact, one_line
from taskagent.core.confirm_policy import AFTER_TOOL_OUTPUT, APPROVES_WRITES, CREATE_TASK_REF
from taskagent.core.mcp import McpManagerError, ToolCallError

if TYPE_CHECKING:
    from google.genai import types

    from taskagent.core.mcp import McpManager

log = logging.getLogger(__name__)

DECLINED = "The user declined: this action was not run. Do not retry it unless the user asks again."


class ToolRunner:
    """Executes one conversation's function calls (call ids are numbered per conversation)."""

    def __init__(
        self, mcp: McpManager, confirmations: Confirmations, timezone: Callable[[], str]
    ) -> None:
        self.mcp = mcp
        self.confirmations = confirmations
        self.timezone = timezone
        self._ids = itertools.count(1)
        # A tool's output (a result or the tool's own error text) came back in this turn.
        self.output_seen = False

    def begin_turn(self) -> None:
        self.output_seen = False

    async def execute(
        self, call: types.FunctionCall, names: ToolNames, out: list[types.Part]
    ) -> AsyncGenerator[ChatEvent, None]:
        """Run one function call (asking first when needed); append its functionResponse."""
        call_id = f"call-{next(self._ids)}"
        name = call.name or ""
        args = dict(call.args or {})
        ref = names.ref(name)

        def respond(payload: dict[str, Any]) -> None:
            out.append(response_part(call, payload))

        if ref is None:
            message = f"unknown tool '{name}': call one of the declared tools"
            respond({"error": message})
            yield ToolCallFinished(call_id, name, False, message)
            return
        yield ToolCallStarted(call_id, ref, args)
        consent = False  # to run a write tool unattended: only a yes on a task card gives it
        decision = self.confirmations.decide(ref, after_tool_output=self.output_seen)
        if decision.ask:
            why = decision.reason if decision.reason == AFTER_TOOL_OUTPUT else ""
            card = await self.confirmations.card(call_id, ref, args, why=why)
            if isinstance(card, str):  # invalid: straight back to the model, no card
                respond({"error": card})
                yield ToolCallFinished(call_id, ref, False, card)
                return
            answer = self.confirmations.open(card)
            try:
                yield card
                approved = await answer
            finally:
                self.confirmations.close(card)
            if not approved:
                respond({"error": DECLINED})
                yield ToolCallFinished(call_id, ref, False, "declined by you; not run")
                return
            consent = card.runs_write_tool
        if ref in APPROVES_WRITES:
            # The card said whether the task runs a write tool unattended, and the user's yes
            # to it is the acknowledgement; whatever the model passed does not count.
            args = {**args, "allow_write": consent}
        payload, finished = await self._call(call_id, ref, args)
        respond(payload)
        yield finished

    async def _call(
        self, call_id: str, ref: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], ToolCallFinished]:
        """Call the tool: the functionResponse payload and the line for the user."""
        label = UNTRUSTED_LABEL.format(ref=ref)
        try:
            result = await self.mcp.call_tool(ref, args)
        except ToolCallError as exc:  # the tool's own message: untrusted text too
            self.output_seen = True
            message = str(exc) or type(exc).__name__
            payload = {"error": fit_result(message), "trust": label}
            return payload, ToolCallFinished(call_id, ref, False, one_line(message))
        except McpManagerError as exc:
            message = str(exc) or type(exc).__name__
            return {"error": message}, ToolCallFinished(call_id, ref, False, one_line(message))
        except Exception as exc:  # a bug in a tool bridge must not end the conversation
            log.exception("chat: tool %s failed unexpectedly", ref)
            message = f"the tool failed: {type(exc).__name__}"
            return {"error": message}, ToolCallFinished(call_id, ref, False, message)
        self.output_seen = True
        data = result.data if result.data is not None else result.text
        payload = {"result": fit_result(data), "trust": label}
        return payload, ToolCallFinished(call_id, ref, True, self._result_summary(ref, data))

    def _result_summary(self, ref: str, data: Any) -> str:
        if isinstance(data, dict):
            if ref == CREATE_TASK_REF and "id" in data:
                nxt = self._local_time(data.get("next_run"))
                return (
                    f"created task {data['id']} “{data.get('name')}”: {data.get('schedule')}, "
                    f"next run {nxt}"
                )
            if isinstance(data.get("message"), str):
                return one_line(data["message"])
            if "count" in data:
                return f"{data['count']} item(s)"
        return one_line(compact(data) if not isinstance(data, str) else data, 120)

    def _local_time(self, iso: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(iso))
            zone = ZoneInfo(schedules.validate_timezone(self.timezone()))
        except (ValueError, schedules.ScheduleError):
            return str(iso or "-")
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"
