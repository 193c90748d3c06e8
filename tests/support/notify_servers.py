"""Real servers on 127.0.0.1 for the notification channels: SMTP (aiosmtpd) and a Slack Web API stand-in."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.live_server import SHUTDOWN_POLL_S, free_port


@dataclass
class SmtpServer:
    """aiosmtpd on loopback; `codes` answers each DATA in turn ("250 ..." accepts), then 250."""

    username: str = "reviewq"
    password: str = "smtp-pass-Zx81"
    codes: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> SmtpServer:
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                if server.codes:
                    code = server.codes.pop(0)
                    if not code.startswith("250"):
                        return code
                with server.arrived:
                    server.raw.append(envelope.content)
                    server.messages.append(message_from_bytes(envelope.content))
                    server.arrived.notify_all()
                return "250 Message accepted for delivery"

        def authenticate(smtp, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == server.username \
                and auth_data.password.decode() == server.password
            if ok:
                server.logins.append(server.username)
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     auth_require_tls=False)
        self.controller.start()
        return self

    def channel(self, **overrides) -> dict:
        return {"type": "email", "host": "127.0.0.1", "port": self.port, "from": "reviewq@example.com",
                "to": ["reviewers@example.com"], "username": self.username, "password": self.password, **overrides}

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class SlackCall:
    method: str
    authorization: str
    content_type: str
    body: bytes
    args: dict


@dataclass
class SlackApi:
    """A stand-in for https://slack.com/api/ on loopback that checks every request like Slack would.

    `statuses` answers each call in turn (then 200). A 200 answer is Slack's JSON: ok with the
    channel id and ts on a post; an update of a ts that was never posted gets message_not_found.
    """

    token: str = "xoxb-test-token-91"
    statuses: list[int] = field(default_factory=list)
    calls: list[SlackCall] = field(default_factory=list)
    posted: dict[str, dict] = field(default_factory=dict)

    def start(self) -> SlackApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ctype = self.headers.get("Content-Type", "")
                args = json.loads(body) if ctype.startswith("application/json") else \
                    {k: v[0] for k, v in parse_qs(body.decode()).items()}
                method = self.path.rsplit("/", 1)[-1]
                api.calls.append(SlackCall(method, self.headers.get("Authorization", ""), ctype, body, args))
                status = api.statuses.pop(0) if api.statuses else 200
                if status != 200:
                    return self._answer(status, {"ok": False, "error": "fatal_error"})
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._answer(200, {"ok": False, "error": "invalid_auth"})
                if method == "chat.postMessage":
                    ts = f"1700000000.{len(api.posted) + 1:06d}"
                    api.posted[ts] = args
                    return self._answer(200, {"ok": True, "channel": "C0REVIEWQ", "ts": ts})
                if method == "chat.update":
                    if args.get("channel") != "C0REVIEWQ" or args.get("ts") not in api.posted:
                        return self._answer(200, {"ok": False, "error": "message_not_found"})
                    api.posted[args["ts"]] = args
                    return self._answer(200, {"ok": True, "channel": "C0REVIEWQ", "ts": args["ts"]})
                return self._answer(200, {"ok": False, "error": "unknown_method"})

            def _answer(self, status, data):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                         daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def channel(self, **overrides) -> dict:
        return {"type": "slack", "channel": "#approvals", "token": self.token, "base_url": self.base_url, **overrides}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
