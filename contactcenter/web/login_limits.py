"""Login attempts, limited per account and per client address (docs/decisions.md, "Accounts
and security").

Each account (the username tried) and each client address has a count of failed logins.
Below a few free failures nothing happens; from there on, every further attempt must wait a
delay that doubles with each failure (1 s, 2 s, 4 s... up to a cap) after the last one. An
attempt made while waiting is refused with `TooManyLoginAttempts` (HTTP 429, Retry-After)
before the password is even looked at, so the right password does not get through either;
a refusal is not counted, so it does not lengthen the wait. A success clears the account's
count; counts are forgotten some time after the last failure.

The counts live in Redis, and one Lua script checks and counts an attempt in one step: every
hub process applies the same limits, and a burst of attempts sent at once cannot slip
through before the first of them is counted. The keys carry the routing domain's hash tag,
so the script touches one hash slot (Redis Cluster works unchanged).

When an account or an address starts or goes on waiting, a `LoginThrottled` event tells the
supervisors, and it is logged; neither carries a password.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from redis.commands.core import AsyncScript

from contactcenter.core.errors import HubError
from contactcenter.core.eventbus import EventBus
from contactcenter.core.events import LoginThrottled
from contactcenter.core.redisconn import RedisClient
from contactcenter.web.auth import AgentStore

log = structlog.get_logger("contactcenter.web.login_limits")


class TooManyLoginAttempts(HubError):
    """Too many failed logins for this account or from this address: no attempt is looked
    at until `details.retry_after_s` has passed (`details.limit`: "account" or "address")."""

    error_id = "auth.too_many_attempts"
    http_status = 429


# KEYS[1], KEYS[2]: the account's and the address's counters, hashes
#   {f: failures counted, at: epoch ms of the last one counted}.
# ARGV[1]: now (epoch ms); ARGV[2], ARGV[3]: the free failures of the account and of the
#   address; ARGV[4]: the first wait (ms); ARGV[5]: the longest wait (ms); ARGV[6]: how long
#   a count is kept after its last failure (ms).
# Returns {wait_ms, which, f1, f2}. While either must wait: wait_ms > 0, `which` (1 or 2) the
#   one waiting longest, and nothing counted. Otherwise {0, 0, f1, f2} with both counts raised
#   by one: an attempt counts as a failure until it succeeds (`_FORGIVE`).
_ATTEMPT = """
local now = tonumber(ARGV[1])
local first, longest, keep = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local counts, wait, which = {}, 0, 0
for i = 1, 2 do
  local f = tonumber(redis.call('HGET', KEYS[i], 'f') or '0')
  local at = tonumber(redis.call('HGET', KEYS[i], 'at') or '0')
  local free = tonumber(ARGV[1 + i])
  counts[i] = f
  if f >= free then
    local left = at + math.min(first * 2 ^ (f - free), longest) - now
    if left > wait then wait, which = left, i end
  end
end
if wait > 0 then return {wait, which, counts[1], counts[2]} end
for i = 1, 2 do
  redis.call('HSET', KEYS[i], 'f', counts[i] + 1, 'at', now)
  redis.call('PEXPIRE', KEYS[i], keep)
end
return {0, 0, counts[1] + 1, counts[2] + 1}
"""

# A success: KEYS[1] (the account's counter) is cleared; KEYS[2] (the address's) loses the
# failure its attempt was counted as, but keeps the others, so that an address guessing at
# many accounts cannot wipe its count by logging in to one of its own.
_FORGIVE = """
redis.call('DEL', KEYS[1])
if redis.call('HINCRBY', KEYS[2], 'f', -1) <= 0 then redis.call('DEL', KEYS[2]) end
return 0
"""


@dataclass(frozen=True)
class LoginPolicy:
    """How logins are taken: the `[login]` settings of config/hub.toml, in milliseconds (built
    by the composition root, contactcenter/app.py `login_policy`)."""

    free_per_account: int = 5
    free_per_address: int = 50
    first_delay_ms: int = 1000
    max_delay_ms: int = 300_000
    forget_after_ms: int = 900_000
    # Count an address as the last hop of X-Forwarded-For (behind a trusted proxy) rather than
    # the socket's peer (contactcenter/web/origins.py client_ip); from config/widget.toml.
    trust_forwarded_for: bool = False
    # Mark the session cookie Secure: the hub's public URL is https.
    secure_cookie: bool = False

    def delay_ms(self, failures: int, free: int) -> int:
        """The wait after `failures` failed logins (0 while they are free)."""
        if failures < free:
            return 0
        doubled: int = self.first_delay_ms * 2 ** min(failures - free, 40)
        return min(doubled, self.max_delay_ms)


@dataclass(frozen=True)
class Attempt:
    """One login attempt let through, counted (until it succeeds) as a failure."""

    username: str
    address: str
    account_failures: int
    address_failures: int


def _digest(value: str) -> str:
    # Usernames and addresses are not kept in Redis as they are.
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class LoginLimiter:
    """Counts login attempts in Redis for every hub process of one routing domain."""

    def __init__(
        self,
        redis: RedisClient,
        domain: str,
        policy: LoginPolicy,
        *,
        bus: EventBus,
        agents: AgentStore,
        clock: Callable[[], int],
    ) -> None:
        self.policy = policy
        self.prefix = f"cc:{{{domain}}}:login"
        self.bus = bus
        self.agents = agents
        self.clock = clock
        # redis-py types register_script's `self` as Redis; AsyncScript serves RedisCluster
        # too (routing/scripts.py does the same).
        self._attempt: AsyncScript = redis.register_script(_ATTEMPT)  # type: ignore[misc]
        self._forgive: AsyncScript = redis.register_script(_FORGIVE)  # type: ignore[misc]

    def _keys(self, username: str, address: str) -> list[str]:
        return [
            f"{self.prefix}:account:{_digest(username)}",
            f"{self.prefix}:address:{_digest(address)}",
        ]

    async def begin(self, username: str, address: str) -> Attempt:
        """Let an attempt through and count it, or raise `TooManyLoginAttempts`."""
        p = self.policy
        args = [self.clock(), p.free_per_account, p.free_per_address, p.first_delay_ms]
        args += [p.max_delay_ms, max(p.forget_after_ms, p.max_delay_ms)]
        wait_ms, which, on_account, on_address = (
            int(v) for v in await self._attempt(keys=self._keys(username, address), args=args)
        )
        if wait_ms > 0:
            raise TooManyLoginAttempts(
                "too many failed logins; wait before trying again",
                limit="account" if which == 1 else "address",
                retry_after_s=math.ceil(wait_ms / 1000),
            )
        return Attempt(username, address, on_account, on_address)

    async def succeeded(self, attempt: Attempt) -> None:
        await self._forgive(keys=self._keys(attempt.username, attempt.address), args=[])

    async def failed(self, attempt: Attempt) -> None:
        """The attempt failed (it is counted already): tell supervisors when the account or
        the address must now wait."""
        p = self.policy
        wait_ms = p.delay_ms(attempt.account_failures, p.free_per_account)
        if wait_ms:
            agent = await self.agents.by_username(attempt.username)
            # An unknown username is limited like a real one, but it is nobody's account:
            # the address's event says enough about who is guessing.
            if agent is not None:
                await self._throttled(
                    "account",
                    attempt.account_failures,
                    wait_ms,
                    agent_id=agent.agent_id,
                    username=agent.username,
                )
        wait_ms = p.delay_ms(attempt.address_failures, p.free_per_address)
        if wait_ms:
            await self._throttled(
                "address", attempt.address_failures, wait_ms, address=attempt.address
            )

    async def _throttled(
        self,
        scope: str,
        failures: int,
        wait_ms: int,
        *,
        agent_id: str | None = None,
        username: str | None = None,
        address: str | None = None,
    ) -> None:
        retry_after_s = math.ceil(wait_ms / 1000)
        log.warning(
            "login_throttled",
            scope=scope,
            failures=failures,
            retry_after_s=retry_after_s,
            agent_id=agent_id,
            address=address,
        )
        await self.bus.publish(
            LoginThrottled(
                at_ms=self.clock(),
                scope=scope,
                failures=failures,
                retry_after_s=retry_after_s,
                agent_id=agent_id,
                username=username,
                address=address,
            )
        )


LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)
