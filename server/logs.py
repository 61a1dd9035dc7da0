"""Logging set-up: the seed's plain lines by default, JSON lines on request, secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from server.codec import dumps
from server.settings import Settings

# A stream token (server/api/streamtokens.py), wherever it appears: a URL, an error message.
STREAM_TOKEN = re.compile(r"st1\.[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]+")
# Characters a terminal or a log viewer would act on rather than show: C0/C1 controls (NUL,
# ESC of ANSI sequences, CR/LF that would forge a line) and the bidi/zero-width marks.
CONTROL_RE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def escape_controls(text: str) -> str:
    return CONTROL_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class EscapeControls(logging.Filter):
    """User text (keywords) goes into log messages: shown escaped, never interpreted. Only the
    message: a traceback's line breaks are its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


class RedactSecrets(logging.Filter):
    """Last line of defence: even if a secret slipped into a message, it is masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return STREAM_TOKEN.sub("st1.***", text) if "st1." in text else text

    def filter(self, record: logging.LogRecord) -> bool:
        # Not only when secrets are configured: stream tokens are masked on every server.
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A traceback quotes exception messages: format it now, masked. Formatters use
        # exc_text when it is set instead of formatting exc_info again.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.mask(_PLAIN.formatException(record.exc_info))
        return True


_PLAIN = logging.Formatter()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return dumps(entry)


def secrets_of(settings: Settings) -> list[str]:
    found = [k.client_secret for k in settings.naver_keys]
    if settings.api_token:
        found.append(settings.api_token)
    found.extend(s for s in (settings.ad_secret_key, settings.ad_access_license) if s)
    if settings.webhook_secret:
        found.append(settings.webhook_secret)
    return found


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(EscapeControls())
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
