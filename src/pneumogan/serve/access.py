"""Who may use the server: open on the loopback interface, a bearer token anywhere else.

`pneumogan serve` binds to 127.0.0.1 by default. Bound to any other address, the JSON API and the UI require a
token (`--token` or `PNEUMOGAN_API_TOKEN`); without one the server refuses to start unless the user says
`--insecure`. API requests without `Authorization: Bearer <token>` get 401 and are not processed; `/healthz`
stays open and then reveals nothing but the status.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os

from starlette.types import ASGIApp, Receive, Scope, Send

from pneumogan.errors import PneumoganError

TOKEN_ENV = "PNEUMOGAN_API_TOKEN"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def server_token(host: str, token: str | None, insecure: bool = False) -> str | None:
    """The token the server will require (None: open). Refuses an exposed server without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host) and not insecure:
        raise PneumoganError(
            f"serving on {host} exposes the model to the network: give --token (or set {TOKEN_ENV}) so that "
            "requests must carry it, or pass --insecure to serve without one"
        )
    return token


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware: `/api/…` requests need `Authorization: Bearer <token>` (401 otherwise, before any body is
    read); `/healthz` stays open."""

    def __init__(self, app: ASGIApp, token: str, prefix: str = "/api/") -> None:
        self.app, self.token, self.prefix = app, token, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not token_matches(given.strip(), self.token):
                await _unauthorized(send)
                return
        await self.app(scope, receive, send)


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"error": "unauthorized", "detail": "send the server's token as 'Authorization: Bearer …'"})
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})
