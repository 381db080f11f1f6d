"""Kept so older imports work: the summaries live in `taskagent.core.summary`."""

from taskagent.core.summary import *  # noqa: F403
from taskagent.core.summary import __all__  # noqa: F401
