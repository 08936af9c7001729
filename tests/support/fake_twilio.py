"""A stand-in for Twilio's REST API on loopback, for tests and local demos.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and
`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` (a live call's update: new TwiML
or Status=completed) as Twilio does (HTTP basic auth with the account sid and auth token, form
parameters in, the documented Message and Call resource JSON out, Twilio's error JSON for a
refusal), records every request, and can play Twilio's part in the other direction: status
callbacks, incoming-message and voice webhooks, signed with the auth token through the twilio
library's RequestValidator.

    python -m tests.support.fake_twilio --port 8099 --auto-status sent,delivered
    TWILIO_API_BASE=http://127.0.0.1:8099 TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... \\
        contactcenter serve
    python -m tests.support.fake_twilio sms --hub http://127.0.0.1:8080 --from +14155550100 \\
        --to +14155550199 "Hello, my parcel is late"
    python -m tests.support.fake_twilio call --from +14155550100 --to +14155550199
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
DEMO_ACCOUNT_SID = "ACfake-demo-account"  # plainly not an account: for local demos only
DEMO_AUTH_TOKEN = "fake-twilio-demo-token"


def new_sid(prefix: str) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: Mapping[str, str] | MultiDict[str]) -> str:
    """X-Twilio-Signature for a POST of `params` to `url`, as Twilio computes it."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


async def signed_post(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST `params` form-encoded to `url` as Twilio would, signed with `auth_token` (or with
    `signature` when given, to forge one); returns the status and body of the answer."""
    headers = {
        "X-Twilio-Signature": signature if signature is not None else sign(auth_token, url, params)
    }
    async with session.post(url, data=dict(params), headers=headers) as resp:
        return resp.status, await resp.text()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    auth_user: str | None
    form: MultiDict[str]


def _error(status: int, code: int, message: str) -> web.Response:
    # https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


@dataclass
class FakeTwilio:
    """The fake API. `messages` are the Message resources created, in order; `created` yields
    each as it is created; `fail_next` makes the next create or update answer with a Twilio
    error. `calls` are the calls begun with `incoming_call`; `call_updates` yields each update
    of one as (CallSid, form) when it is made."""

    account_sid: str = DEMO_ACCOUNT_SID
    auth_token: str = DEMO_AUTH_TOKEN
    auto_statuses: Sequence[str] = ()  # posted to each message's StatusCallback, in order
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    created: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    callbacks: dict[str, str] = field(default_factory=dict)  # message sid -> StatusCallback
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # CallSid -> Call resource
    call_updates: asyncio.Queue[tuple[str, MultiDict[str]]] = field(default_factory=asyncio.Queue)
    _failures: list[tuple[int, int, str]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    base_url: str = ""

    def fail_next(
        self, status: int = 400, code: int = 21211, message: str = "Invalid 'To'"
    ) -> None:
        self._failures.append((status, code, message))

    def app(self) -> web.Application:
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}/Messages"
        app.router.add_post(base + ".json", self._create)
        app.router.add_get(base + "/{sid}.json", self._fetch)
        app.router.add_post(f"/{API_VERSION}/Accounts/{{account}}/Calls/{{sid}}.json", self._call)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0: a free port); returns the base URL (TWILIO_API_BASE)."""
        self._runner = web.AppRunner(self.app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}"
        return self.base_url

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _auth_user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        with contextlib.suppress(ValueError):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if user == self.account_sid and secrets.compare_digest(password, self.auth_token):
                return user
        return None

    async def _create(self, request: web.Request) -> web.Response:
        posted = await request.post()
        form = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
        user = self._auth_user(request)
        self.requests.append(RecordedRequest(request.method, request.path, user, form))
        if user is None or request.match_info["account"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self._failures:
            return _error(*self._failures.pop(0))
        if not form.get("To"):
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "The source 'from' phone number is required to send an SMS")
        if not form.get("Body") and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        sid, now = new_sid("SM"), format_datetime(datetime.now(UTC))  # RFC 2822, as Twilio
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(form.getall("MediaUrl", []))),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }
        self.messages.append(message)
        self.created.put_nowait(message)
        if form.get("StatusCallback"):
            self.callbacks[sid] = form["StatusCallback"]
            if self.auto_statuses:
                task = asyncio.create_task(self._play_statuses(sid))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return web.json_response(message, status=201)

    async def _call(self, request: web.Request) -> web.Response:
        """A live call's update (https://www.twilio.com/docs/voice/api/call-resource#update-a-
        call-resource): `Twiml` replaces what the call runs, `Status=completed` hangs it up."""
        posted = await request.post()
        form = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
        user = self._auth_user(request)
        self.requests.append(RecordedRequest(request.method, request.path, user, form))
        if user is None or request.match_info["account"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self._failures:
            return _error(*self._failures.pop(0))
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return _error(404, 20404, "The requested resource was not found")
        if call["status"] in ("completed", "canceled", "failed", "busy", "no-answer"):
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if form.get("Status") in ("completed", "canceled"):
            call["status"], call["end_time"] = form["Status"], format_datetime(datetime.now(UTC))
        call["date_updated"] = format_datetime(datetime.now(UTC))
        self.call_updates.put_nowait((call["sid"], form))
        return web.json_response(call)

    async def _fetch(self, request: web.Request) -> web.Response:
        if self._auth_user(request) is None:
            return _error(401, 20003, "Authenticate")
        for message in self.messages:
            if message["sid"] == request.match_info["sid"]:
                return web.json_response(message)
        return _error(404, 20404, "The requested resource was not found")

    async def _play_statuses(self, sid: str) -> None:
        for status in self.auto_statuses:
            await asyncio.sleep(0.2)
            with contextlib.suppress(aiohttp.ClientError):
                await self.send_status(sid, status)

    async def send_status(
        self, sid: str, status: str, error_code: str | None = None, *, signature: str | None = None
    ) -> tuple[int, str]:
        """Post a status callback for message `sid` to the StatusCallback it was created with
        (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks)."""
        message = next(m for m in self.messages if m["sid"] == sid)
        message["status"] = status
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": str(message["from"]),
            "To": str(message["to"]),
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
        }
        if error_code is not None:
            params["ErrorCode"] = error_code
        async with aiohttp.ClientSession() as session:
            return await signed_post(
                session, self.callbacks[sid], params, self.auth_token, signature=signature
            )

    def incoming(
        self,
        sender: str,
        to: str,
        body: str,
        *,
        sid: str | None = None,
        media: Sequence[tuple[str, str]] = (),
        profile_name: str | None = None,
    ) -> dict[str, str]:
        """The form of Twilio's incoming-message webhook for a message from `sender` to our
        `to` (https://www.twilio.com/docs/messaging/guides/webhook-request); `media` are
        (url, content type) pairs."""
        sid = sid or new_sid("MM" if media else "SM")
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessagingServiceSid": "",
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": str(len(media)),
            "NumSegments": "1",
            "ApiVersion": API_VERSION,
            "SmsStatus": "received",
        }
        for i, (url, content_type) in enumerate(media):
            params[f"MediaUrl{i}"], params[f"MediaContentType{i}"] = url, content_type
        if profile_name is not None:
            params["ProfileName"] = profile_name
            params["WaId"] = sender.removeprefix("whatsapp:+")
        return params

    def incoming_call(self, caller: str, called: str, *, sid: str | None = None) -> dict[str, str]:
        """The form of Twilio's incoming-call webhook from `caller` to our `called`
        (https://www.twilio.com/docs/voice/twiml#request-parameters); the call is then live
        here, to be updated."""
        sid = sid or new_sid("CA")
        now = format_datetime(datetime.now(UTC))
        self.calls[sid] = {
            "sid": sid, "account_sid": self.account_sid, "api_version": API_VERSION,
            "from": caller, "to": called, "direction": "inbound", "status": "in-progress",
            "date_created": now, "date_updated": now, "start_time": now, "end_time": None,
            "duration": None, "parent_call_sid": None, "price": None, "price_unit": "USD",
            "queue_time": "0",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json",
        }  # fmt: skip
        return {
            "CallSid": sid, "AccountSid": self.account_sid, "ApiVersion": API_VERSION,
            "From": caller, "Caller": caller, "To": called, "Called": called,
            "CallStatus": "ringing", "Direction": "inbound",
        }  # fmt: skip

    def call_form(self, call: Mapping[str, str], **extra: str | int) -> dict[str, str]:
        """A later webhook of `call` (a Gather's or Record's action, Enqueue's waitUrl, the
        status callback): its standard parameters and `extra`, such as Digits="1",
        QueueTime=30, CallStatus="completed" or RecordingSid=..."""
        form = {**call, "CallStatus": self.calls[call["CallSid"]]["status"]}
        form.update({key: str(value) for key, value in extra.items()})
        return form

    def hang_up(self, call: Mapping[str, str], status: str = "completed") -> dict[str, str]:
        """The caller hangs up: the call is over; returns its status callback's form."""
        self.calls[call["CallSid"]]["status"] = status
        return self.call_form(call, CallStatus=status, CallDuration=42)

    async def post(
        self, url: str, params: Mapping[str, str], *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a webhook to the hub as Twilio does, signed with our auth token."""
        async with aiohttp.ClientSession() as session:
            return await signed_post(session, url, params, self.auth_token, signature=signature)


# --- command line (local demos) ------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTwilio(
        args.account_sid, args.auth_token, tuple(filter(None, args.auto_status.split(",")))
    )
    base = await fake.start(args.host, args.port)
    print(f"fake Twilio API at {base} (account {fake.account_sid}); Ctrl-C stops it", flush=True)
    try:
        while True:
            message = await fake.created.get()
            print(f"message {message['sid']} to {message['to']}: {message['body']!r}", flush=True)
    finally:
        await fake.close()


async def _sms(args: argparse.Namespace) -> int:
    fake = FakeTwilio(args.account_sid, args.auth_token)
    params = fake.incoming(args.sender, args.to, args.body)
    async with aiohttp.ClientSession() as session:
        status, text = await signed_post(
            session, args.hub.rstrip("/") + "/twilio/messaging", params, args.auth_token
        )
    print(f"{status} {text}", flush=True)
    return 0 if status == 200 else 1


async def _call(args: argparse.Namespace) -> int:
    fake = FakeTwilio(args.account_sid, args.auth_token)
    params = fake.incoming_call(args.sender, args.to)
    status, text = await fake.post(args.hub.rstrip("/") + "/twilio/voice", params)
    print(f"{status} {text}", flush=True)
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_twilio", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--account-sid", default=DEMO_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEMO_AUTH_TOKEN)
    commands = parser.add_subparsers(dest="command")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--auto-status", default="", help="statuses to call back, e.g. sent,delivered"
    )
    sms = commands.add_parser("sms", help="send the hub a signed incoming SMS")
    sms.add_argument("--hub", default="http://127.0.0.1:8080", help="the hub's public URL")
    sms.add_argument("--from", dest="sender", required=True)
    sms.add_argument("--to", required=True)
    sms.add_argument("body")
    call = commands.add_parser("call", help="send the hub a signed incoming call; show its TwiML")
    call.add_argument("--hub", default="http://127.0.0.1:8080", help="the hub's public URL")
    call.add_argument("--from", dest="sender", required=True)
    call.add_argument("--to", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "sms":
            return asyncio.run(_sms(args))
        if args.command == "call":
            return asyncio.run(_call(args))
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
