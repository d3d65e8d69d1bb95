"""The webhook delivery loop: POST due deliveries, signed, and record every attempt.

Every API and worker process runs one (docs/webhooks.md). Each round it
leases as many due deliveries as it has free slots (`concurrency`), sends
each in its own task, and records the attempt: a 2xx answer delivers it;
anything else (another status, a refused target, a timeout, a connection
error) schedules a retry with exponential backoff and jitter, until
`max_attempts` make it `failed`.

Nothing holds a database connection while a request is in flight: a claim
is one short transaction, the record another. Delivery is at least once: a
process killed mid-request leaves the delivery leased, and whoever claims it
once the lease lapses sends the same bytes with the same delivery id again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from openbook.config import WebhookSettings
from openbook.db.database import Database
from openbook.db.webhooks import Claim, Outcome, claim_due, record_attempt
from openbook.errors import InvalidRequest, Unavailable
from openbook.pipeline.loops import stop_if_cancelled
from openbook.pipeline.targets import GuardedResolver, check_literal, parse_url

log = logging.getLogger("openbook.webhooks")

USER_AGENT = "OpenBook-Webhooks/1"
JITTER = 0.2
MAX_OUTAGE_DELAY_S = 5.0
MAX_ERROR_CHARS = 500


def signature(secret: str, body: bytes) -> str:
    """The `X-OpenBook-Signature-256` value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_headers(claim: Claim) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-OpenBook-Event": claim.event,
        "X-OpenBook-Delivery": str(claim.id),
        "X-OpenBook-Signature-256": signature(claim.secret, claim.body),
    }


def retry_delay(attempt: int, settings: WebhookSettings, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): doubling from `first_retry_s`, +-20%.

    The jitter spreads the retries of many deliveries that failed together
    (a receiver's outage) instead of sending them back in one burst.
    """
    return settings.first_retry_s * 2.0 ** (attempt - 1) * (1 - JITTER + 2 * JITTER * rand())


def decide(attempt: int, status_code: int | None, settings: WebhookSettings) -> tuple[Outcome, float]:
    """The delivery's state after attempt `attempt`, and the delay before the next one when pending."""
    if status_code is not None and 200 <= status_code < 300:
        return "delivered", 0.0
    if attempt >= settings.max_attempts:
        return "failed", 0.0
    return "pending", retry_delay(attempt, settings)


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt got: the answer's status code, or why there was none."""

    status_code: int | None
    error: str | None
    duration_ms: int


async def send(session: aiohttp.ClientSession, claim: Claim, settings: WebhookSettings) -> Sent:
    """POST the claim's body once; never raises for the target's failures (they are the result)."""
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s, connect=settings.connect_timeout_s)
    try:
        url = parse_url(claim.url)
        if not settings.allow_private:
            check_literal(url)  # names are checked by the session's GuardedResolver
        async with session.post(url, data=claim.body, headers=request_headers(claim), allow_redirects=False,
                                timeout=timeout) as resp:
            status_code = resp.status
    except InvalidRequest as exc:  # TargetRefused: nothing was sent
        error = f"refused: {exc.message}"
    except aiohttp.ConnectionTimeoutError:
        error = f"could not connect within {settings.connect_timeout_s:g}s"
    except TimeoutError:
        error = f"no answer within {settings.timeout_s:g}s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    return Sent(status_code, error, int((time.monotonic() - started) * 1000))


class WebhookDelivery:
    """The loop; `run()` until cancelled. Outages are logged and retried with backoff, never raised."""

    def __init__(self, db: Database, settings: WebhookSettings) -> None:
        self._db = db
        self._settings = settings
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    async def run(self) -> None:
        resolver = None if self._settings.allow_private else GuardedResolver()
        # No DNS cache: each delivery resolves (and checks) its host afresh.
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=self._settings.concurrency)
        try:
            async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
                try:
                    await self._claim_forever(session)
                finally:
                    # Unrecorded deliveries stay leased; whoever claims them after the lease sends them.
                    for task in self._in_flight:
                        task.cancel()
                    await asyncio.gather(*self._in_flight, return_exceptions=True)
        finally:
            if resolver is not None:
                await resolver.close()

    async def _claim_forever(self, session: aiohttp.ClientSession) -> None:
        s = self._settings
        delay = s.poll_s
        while True:
            stop_if_cancelled()
            self._slot_freed.clear()
            free = s.concurrency - len(self._in_flight)
            claims: list[Claim] = []
            if free:
                try:
                    claims = await claim_due(self._db, free, s.lease_s)
                    delay = s.poll_s
                except Unavailable as exc:
                    log.warning("webhook delivery: %s (retrying in %.1fs)", exc.message, delay)
                    delay = min(delay * 2, MAX_OUTAGE_DELAY_S)
                except Exception:
                    # Not a known outage (e.g. asyncpg's InternalClientError on a pooled connection the
                    # server terminated): logged with its trace, and the loop goes on, as for an outage.
                    log.exception("webhook delivery: claiming failed (retrying in %.1fs)", delay)
                    delay = min(delay * 2, MAX_OUTAGE_DELAY_S)
            for claim in claims:
                task = asyncio.create_task(self._deliver(session, claim))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            if claims and len(claims) == free:
                continue  # more may be due: claim again as soon as a slot is free
            # Sleep until the next poll, or until a finished delivery frees a slot.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), delay)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()

    async def _deliver(self, session: aiohttp.ClientSession, claim: Claim) -> None:
        where = {"delivery_id": str(claim.id), "webhook_id": str(claim.webhook_id), "event": claim.event,
                 "attempt": claim.attempt}
        try:
            sent = await send(session, claim, self._settings)
            outcome, retry_in = decide(claim.attempt, sent.status_code, self._settings)
            recorded = await record_attempt(self._db, claim, status_code=sent.status_code, error=sent.error,
                                            duration_ms=sent.duration_ms, outcome=outcome, retry_in_s=retry_in)
        except Unavailable as exc:
            log.warning("webhook delivery: cannot record the attempt (%s); it is sent again once its lease"
                        " lapses", exc.message, extra=where)
            return
        except Exception:
            # A bug must not end the loop; the lease lapses and the delivery is tried again.
            log.exception("webhook delivery failed unexpectedly", extra=where)
            return
        if not recorded:
            log.warning("webhook delivery: not recorded, the delivery changed meanwhile (its lease lapsed or its"
                        " webhook was deleted)", extra=where)
            return
        log.info("webhook delivery %s", outcome, extra={**where, "status_code": sent.status_code,
                                                        "error": sent.error, "duration_ms": sent.duration_ms,
                                                        "retry_in_s": round(retry_in, 1)})
