"""The task form's labels by task field, so a message about a field names the label the user
sees ("Grace (s) must be ..." rather than the field behind it)."""

from __future__ import annotations

FORM_WORDS = {
    "name": "Name",
    "description": "Description",
    "mcp_tool": "Tool",
    "tool_args": "Arguments",
    "summary_mode": "AI summary",
    "notification_level": "Notify",
    "significance_threshold": "Significant change %",
    "misfire_policy": "Missed runs",
    "timeout_seconds": "Timeout (s)",
    "misfire_grace_seconds": "Grace (s)",
    "catch_up_within_seconds": "Catch up within",
}
