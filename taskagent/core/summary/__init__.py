"""Run summaries: the prompt (`prompt`), the offline summariser (`offline`), one Gemini request
(`gemini`) and the facade the run pipeline calls (`summarizer.Summarizer`)."""

from taskagent.core.summary.gemini_summary import OFFLINE, SummaryResult
from taskagent.core.summary.offline import big_money, crossing, money, offline_summary
from taskagent.core.summary.summarizer import Summarizer
from taskagent.core.summary.summary_prompt import (
    MAX_DATA_CHARS,
    MAX_PREVIOUS_CHARS,
    MAX_SUMMARY_CHARS,
    SYSTEM_INSTRUCTION,
    build_prompt,
    generation_settings,
    render_data,
)

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
