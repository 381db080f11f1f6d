"""Run summaries: the prompt (`prompt`), the offline summariser (`offline`), one Gemini request
(`gemini`) and the facade the run pipeline calls (`summarizer.Summarizer`)."""

from taskagent.core.summary.gemini import OFFLINE, SummaryResult
from taskagent.core.summary.offline import big_money, crossing, money, offline_summary
from taskagent.core.summary.prompt import (
    MAX_DATA_CHARS,
    MAX_PREVIOUS_CHARS,
    MAX_SUMMARY_CHARS,
    SYSTEM_INSTRUCTION,
    build_prompt,
    generation_settings,
    render_data,
)
from taskagent.core.summary.summarizer import Summarizer

__all__ = [
    "MAX_DATA_CHARS",
    "MAX_PREVIOUS_CHARS",
    "MAX_SUMMARY_CHARS",
    "OFFLINE",
    "SYSTEM_INSTRUCTION",
    "Summarizer",
    "SummaryResult",
    "big_money",
    "build_prompt",
    "crossing",
    "generation_settings",
    "money",
    "offline_summary",
    "render_data",
]
