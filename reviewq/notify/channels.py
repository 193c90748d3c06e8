"""The channels: a local log, email (smtplib), Slack (slack_sdk Web API) and a signed webhook.

Each sends one rendered message (reviewq.notify.message) and reports a `SendResult`; the
sender (reviewq.notify.sender) decides about retries. A channel posts a message and later
updates it: Slack edits it in place (chat.update), email replies in the same thread
(In-Reply-To), a webhook sends the update under the same notification id, the log adds a line.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from reviewq.domain.webhooks import signed_headers
from reviewq.notify.settings import ChannelSpec

log = logging.getLogger("reviewq.notify")
RESPONSE_READ_LIMIT = 64 * 1024


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None = None
    retry_after: str | None = None
    error: str | None = None
    remote_ref: str | None = None  # where the channel put a new message (for later updates)


@dataclass(frozen=True)
class Outgoing:
    """One delivery as the channel sees it."""

    delivery_id: str
    action: str  # post | update
    message: dict[str, Any]
    remote_ref: str | None  # the posted message's reference, for an update
    at: datetime  # when the message was written (the event's time)
    sent_at: datetime  # this attempt (signs webhook-timestamp)


class Channel(Protocol):
    def send(self, out: Outgoing, *, timeout: float) -> SendResult: ...


def _secret(options: dict, key: str) -> str | None:
    """A secret given directly or named by an environment variable (read at send time)."""
    if options.get(key):
        return options[key]
    name = options.get(f"{key}_env")
    return os.environ.get(name) if name else None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class LogChannel:
    """One line per message: to a file (nothing leaves the machine) or the server's log."""

    def __init__(self, spec: ChannelSpec, base_dir: Path):
        path = spec.options.get("path") or ""
        self.name = spec.name
        self.path = (Path(path) if Path(path).is_absolute() else base_dir / path) if path else None

    @staticmethod
    def line(channel: str, out: Outgoing) -> str:
        m = out.message
        what = m["settled"] if m.get("settled") else m["text"].splitlines()[0]
        return (f"{out.at:%Y-%m-%d %H:%M:%S}Z [{channel}] {m['event']} {m['title']} | {what} | {m['link']} "
                f"| id={m['id']}")

    def send(self, out: Outgoing, *, timeout: float) -> SendResult:
        text = self.line(self.name, out)
        if self.path is None:
            log.info("%s", text)
            return SendResult(True, remote_ref=out.message["id"])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            return SendResult(False, error=_error(exc))
        return SendResult(True, remote_ref=out.message["id"])


class EmailChannel:
    """SMTP with the standard library; an update is a reply in the first message's thread."""

    def __init__(self, spec: ChannelSpec):
        o = spec.options
        self.host, self.use_ssl = o["host"], bool(o.get("ssl", False))
        self.port = int(o.get("port") or (465 if self.use_ssl else 587))
        self.starttls, self.sender, self.to = bool(o.get("starttls", False)), o["from"], list(o["to"])
        self.username, self.options = o.get("username"), o

    def build(self, out: Outgoing) -> EmailMessage:
        m = out.message
        msg = EmailMessage()
        msg["From"], msg["To"] = self.sender, ", ".join(self.to)
        msg["Subject"] = m["title"] if out.action == "post" else f"Re: {m['title']}"
        msg["Message-ID"] = f"<{out.delivery_id}@reviewq>"
        msg["X-Reviewq-Notification"] = m["id"]
        if out.action == "update" and out.remote_ref:
            msg["In-Reply-To"] = msg["References"] = out.remote_ref
        msg.set_content(m["text"] + "\n")
        return msg

    def send(self, out: Outgoing, *, timeout: float) -> SendResult:
        msg = self.build(out)
        try:
            cls = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
            with cls(self.host, self.port, timeout=timeout) as smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, _secret(self.options, "password") or "")
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            return SendResult(False, status=exc.smtp_code, error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300])
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(False, error=_error(exc))
        return SendResult(True, status=250, remote_ref=msg["Message-ID"])


class SlackChannel:
    """Slack's Web API through slack_sdk: chat.postMessage, then chat.update of the same message."""

    def __init__(self, spec: ChannelSpec):
        self.channel, self.options = spec.options["channel"], spec.options
        self.base_url = spec.options.get("base_url") or "https://slack.com/api/"

    @staticmethod
    def blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
        # Plain text only (no mrkdwn): agent-supplied text cannot format or mention anyone.
        return [
            {"type": "header", "text": {"type": "plain_text", "text": m["title"][:150]}},
            {"type": "section", "text": {"type": "plain_text", "text": m["text"][:2900]}},
        ]

    def send(self, out: Outgoing, *, timeout: float) -> SendResult:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        token = _secret(self.options, "token")
        if not token:
            return SendResult(False, error=f"no Slack token: set {self.options.get('token_env') or 'token'}")
        # The sender owns retries and backoff, so the client's own retry handlers are off.
        client = WebClient(token=token, base_url=self.base_url, timeout=int(timeout), retry_handlers=[])
        m = out.message
        try:
            if out.action == "update" and out.remote_ref:
                channel_id, ts = out.remote_ref.split(" ", 1)
                resp = client.chat_update(channel=channel_id, ts=ts, text=m["title"], blocks=self.blocks(m))
            else:
                resp = client.chat_postMessage(channel=self.channel, text=m["title"], blocks=self.blocks(m),
                                               unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            r = exc.response
            headers = {k.lower(): v for k, v in (r.headers or {}).items()}
            retry_after = headers.get("retry-after")
            retry_after = retry_after[0] if isinstance(retry_after, list) else retry_after
            code = r.get("error") if isinstance(r.data, dict) else None
            return SendResult(False, status=r.status_code, retry_after=retry_after,
                              error=f"Slack {r.status_code}: {code or 'request failed'}"[:300])
        except Exception as exc:  # noqa: BLE001 - urllib errors of every kind are a failed attempt
            return SendResult(False, error=_error(exc))
        return SendResult(True, status=resp.status_code, remote_ref=f"{resp['channel']} {resp['ts']}")


class WebhookChannel:
    """A POST signed like agent callbacks (Standard Webhooks), for Teams, PagerDuty or anything."""

    def __init__(self, spec: ChannelSpec):
        self.url, self.options = spec.options["url"], spec.options

    def body(self, out: Outgoing) -> bytes:
        event = {"type": out.message["event"], "timestamp": out.at.isoformat().replace("+00:00", "Z"),
                 "data": out.message}
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()

    def send(self, out: Outgoing, *, timeout: float) -> SendResult:
        secret = _secret(self.options, "secret")
        if not secret:
            return SendResult(False, error=f"no signing secret: set {self.options.get('secret_env') or 'secret'}")
        body = self.body(out)
        headers = signed_headers(secret, out.delivery_id, int(out.sent_at.timestamp()), body)
        headers["user-agent"] = "reviewq-notify/1"
        parts = urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        try:
            conn = cls(parts.hostname, parts.port, timeout=timeout)
            try:
                conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
                resp = conn.getresponse()
                resp.read(RESPONSE_READ_LIMIT)
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            return SendResult(False, error=_error(exc))
        ok = 200 <= resp.status < 300
        return SendResult(ok, status=resp.status, retry_after=resp.getheader("Retry-After"),
                          error=None if ok else f"HTTP {resp.status}", remote_ref=out.message["id"] if ok else None)


def build_channel(spec: ChannelSpec, base_dir: Path) -> Channel:
    if spec.type == "log":
        return LogChannel(spec, base_dir)
    if spec.type == "email":
        return EmailChannel(spec)
    if spec.type == "slack":
        return SlackChannel(spec)
    return WebhookChannel(spec)
