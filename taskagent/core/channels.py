"""Where notifications go: `desktop`, a channel named in `[notify.named]`, or an Apprise URL.

A channel as the user writes it (`phone`, `ntfys://my-topic`, `desktop`) is resolved to an
Apprise URL here; Apprise (the kept library for ntfy, Telegram, Slack, e-mail, webhooks and
about a hundred more) does the sending. `desktop` is not an Apprise URL: it is the desktop
notifier with its buttons (core/notify.py).

Channel URLs carry secrets (tokens, passwords, private topics), so a URL is never shown,
logged or exported whole: `masked()` keeps the scheme and the first few characters
(`ntfys://my-t…`). A named channel is shown by its name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from taskagent.core.errors import TaskAgentError

DESKTOP = "desktop"
SHOWN_CHARS = 4  # characters of a URL after its scheme that are shown
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class ChannelError(TaskAgentError):
    """A channel that is neither `desktop`, a named channel nor a URL Apprise knows."""

    default_title = "Channel"


def masked(url: str) -> str:
    """A channel URL as it may be shown: its scheme and the first characters after it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if _NAME.match(url) else url[:SHOWN_CHARS] + "…"
    shown = re.split(r"[:@/?#]", rest[:SHOWN_CHARS], maxsplit=1)[0]  # never a password
    if len(shown) >= len(rest):
        return f"{scheme}://…"
    return f"{scheme}://{shown}…"


def mask_in(text: str, urls: Iterable[str]) -> str:
    """`text` with every one of `urls` replaced by its masked form (for error messages that
    quote the URL they failed on)."""
    for url in sorted(set(urls), key=len, reverse=True):
        if url:
            text = text.replace(url, masked(url))
    return text


class _NoUrls(logging.Filter):
    """Apprise's own log lines may quote a whole URL ("Unparseable URL ..."): drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "://" not in record.getMessage()


def quiet_apprise_urls() -> None:
    """Keep channel URLs out of Apprise's log lines (idempotent)."""
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, _NoUrls) for f in logger.filters):
        logger.addFilter(_NoUrls())


def apprise_accepts(url: str) -> bool:
    """Whether Apprise knows this URL's service and can parse it."""
    import apprise  # imported when a URL is checked: it loads its plugins on first use

    quiet_apprise_urls()
    return apprise.Apprise.instantiate(url) is not None


@dataclass(frozen=True, slots=True)
class Channel:
    """One resolved channel: `label` is what is shown and stored (a name or a masked URL),
    `url` what is sent to (empty for the desktop)."""

    label: str
    url: str = ""

    @property
    def is_desktop(self) -> bool:
        return self.label == DESKTOP and not self.url


DESKTOP_CHANNEL = Channel(DESKTOP)


def check_channel_text(text: Any) -> str:
    """The syntax of one channel as written (names are resolved later): `desktop`, a name, or
    an Apprise URL. Raises ValueError with the user's words."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a channel must be 'desktop', a name from [notify.named] or a URL")
    value = text.strip()
    if value == DESKTOP or _NAME.match(value):
        return value
    if "://" not in value or not apprise_accepts(value):
        raise ValueError(
            f"{masked(value)!r} is not a channel: use 'desktop', a name from [notify.named] or "
            "a URL such as ntfys://my-topic (see the Apprise list of services)"
        )
    return value


def resolve(text: str, named: Mapping[str, str]) -> Channel:
    """One channel as written, resolved: `desktop`, a named one, or a URL Apprise knows."""
    value = text.strip()
    if value == DESKTOP:
        return DESKTOP_CHANNEL
    if value in named:
        url = named[value]
        if url == DESKTOP:
            return Channel(value)
        return Channel(value, url)
    if "://" in value:
        if not apprise_accepts(value):
            raise ChannelError(f"{masked(value)!r} is not a URL Apprise can send to")
        return Channel(masked(value), value)
    known = ", ".join([DESKTOP, *sorted(named)])
    raise ChannelError(f"no channel named {value!r}; known: {known}")


def resolve_all(texts: Iterable[str], named: Mapping[str, str]) -> list[Channel]:
    """Channels as written, resolved, each once, in order."""
    seen: dict[str, Channel] = {}
    for text in texts:
        channel = resolve(text, named)
        seen.setdefault(channel.url or channel.label, channel)
    return list(seen.values())


def check_named(table: Mapping[str, Any]) -> dict[str, str]:
    """`[notify.named]`: name -> URL (or `desktop`). Raises ValueError naming the bad entry."""
    named: dict[str, str] = {}
    for name, url in table.items():
        if not _NAME.match(str(name)) or name == DESKTOP:
            raise ValueError(
                f"[notify.named] {str(name)[:40]!r}: a name is letters, digits, '_', '-', '.' "
                "(and not 'desktop')"
            )
        if not isinstance(url, str) or not (
            url == DESKTOP or ("://" in url and apprise_accepts(url))
        ):
            shown = masked(url) if isinstance(url, str) else repr(url)[:40]
            raise ValueError(
                f"[notify.named] {name} = {shown!r}: must be an Apprise URL such as "
                "ntfys://my-topic, or 'desktop'"
            )
        named[str(name)] = url
    return named
