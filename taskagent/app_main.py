"""Start the full-screen app at once and let it open the core in the background.

The App is built before anything heavy is imported: it paints its first screen, then calls the
services factory on a worker thread (that is where fastmcp & co. get imported) and enters
`Services.open(settings)` on its loop. The services are closed when the app exits.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from taskagent.config import Settings

if TYPE_CHECKING:
    from taskagent.services import Services


def services_factory(settings: Settings):  # type: ignore[no-untyped-def]
    def factory() -> AbstractAsyncContextManager[Services]:
        # Heavy imports (fastmcp, the built-in servers): run by the app on a worker thread.
        import mcp_servers.background_server
        import mcp_servers.crypto_server  # noqa: F401
        import taskagent.core.slash  # noqa: F401  (the chat session: google-genai)
        from taskagent.services import Services

        return Services.open(settings)

    return factory


def run_app(settings: Settings, keymap: dict[str, str] | None = None) -> int:
    from taskagent.app import TaskAgentApp  # textual is imported only for the UI

    app = TaskAgentApp(services_factory(settings), keymap=keymap, settings=settings)
    app.run()
    return app.return_code or 0
