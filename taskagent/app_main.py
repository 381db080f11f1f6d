"""Start the full-screen app: build the core, hand it to the Textual app, close it on exit."""

from __future__ import annotations

import asyncio

from taskagent.config import Settings


def run_app(settings: Settings) -> int:
    from taskagent.app import TaskAgentApp  # textual is imported only for the UI
    from taskagent.services import Services

    async def _run() -> int:
        async with Services.open(settings) as services:
            app = TaskAgentApp(services)
            await app.run_async()
            return app.return_code or 0

    return asyncio.run(_run())
