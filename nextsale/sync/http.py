"""Every request a sync makes goes through one `Client`: one rate limiter, one retry policy, one
place where secrets are kept out of logs and dry-run files.

Retries: 429 and 5xx (and a dropped connection or an answer later than the timeout) are retried
with exponential backoff, waiting at least what Retry-After says, but only for requests that are
safe to repeat (upserts, deletes, reads). A create that is not idempotent is retried only after
a 429, which says the request was not processed.

Every wait is bounded: a Retry-After longer than `max_retry_after_seconds` and a run past its
`deadline_seconds` stop the run with the vendor's message instead of sleeping on. Anything a
vendor echoes back passes `redact` before it is stored or logged.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)
REDACTED = "<redacted>"


class RateLimiter:
    """At most n requests in any window of w seconds, for each (n, w) given: a sliding window
    never exceeds a vendor's fixed or sliding window of the same size. `pause` holds every
    request back after a 429 asked for patience."""

    def __init__(self, limits: Sequence[tuple[int, float]], margin: float = 0.02):
        # a small margin absorbs the delay between our clock and the vendor's
        self.limits = [(n, w * (1 + margin)) for n, w in limits]
        self._sent: deque[float] = deque(maxlen=max((n for n, _ in limits), default=1))
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._paused_until - now
                for n, window in self.limits:
                    if len(self._sent) >= n:
                        wait = max(wait, self._sent[-n] + window - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
            time.sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


@dataclass(frozen=True)
class Call:
    """One HTTP request to a destination, as planned."""

    method: str
    path: str
    body: Any = None
    params: dict[str, str] | None = None
    idempotent: bool = True
    content_type: str = "application/json"
    bucket: str = "default"  # the vendor's rate-limit bucket this endpoint counts against


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    throttled: int = 0


class TransportError(RuntimeError):
    """A request that still failed after every retry: the run stops, nothing is marked sent."""


@dataclass
class Client:
    """Sends `Call`s to `base_url`, or, with `dry_run_dir`, writes each one there as a JSON file
    (method, path, headers without secrets, body) and sends nothing."""

    base_url: str
    headers: dict[str, str]
    limiters: dict[str, RateLimiter]
    secret_headers: tuple[str, ...] = ("authorization",)
    dry_run_dir: Path | None = None
    max_attempts: int = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    deadline_seconds: float = 4 * 3600.0  # of the whole run: a daily sync must end within a day
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._deadline = time.monotonic() + self.deadline_seconds
        # the secret header values, and the token inside "Bearer <token>" and the like
        self._secrets = sorted(
            {
                part
                for k, v in self.headers.items()
                if k.lower() in self.secret_headers
                for part in (v, v.split(" ", 1)[-1])
                if len(part) >= 8
            },
            key=len,
            reverse=True,
        )
        self._planned = 0
        self._lock = threading.Lock()  # batches may be sent from several threads
        if self.dry_run_dir is not None:
            self.dry_run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def dry_run(self) -> bool:
        return self.dry_run_dir is not None

    def redact(self, text: str | None) -> str | None:
        """The text with every credential this client sends replaced: a vendor may echo the
        Authorization header back in an error."""
        if text is None:
            return None
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def public_headers(self, call: Call) -> dict[str, str]:
        headers = {**self.headers, "Content-Type": call.content_type}
        return {k: REDACTED if k.lower() in self.secret_headers else v for k, v in headers.items()}

    def send(self, call: Call) -> requests.Response | None:
        """The final response (any status), or None in a dry run."""
        if self.dry_run_dir is not None:
            self._write_planned(call, self.dry_run_dir)
            return None
        # bytes, so that headers and body leave in one write
        body = None if call.body is None else json.dumps(call.body, separators=(",", ":")).encode()
        headers = {**self.headers, "Content-Type": call.content_type}
        limiter = self.limiters.get(call.bucket) or self.limiters["default"]
        for attempt in range(1, self.max_attempts + 1):
            self._check_deadline(call)
            limiter.acquire()
            with self._lock:
                self.counters.requests += 1
            try:
                response = self._session.request(
                    call.method,
                    self.base_url.rstrip("/") + call.path,
                    params=call.params,
                    data=body,
                    headers=headers,
                    timeout=self.timeout_seconds,
                )
            except requests.RequestException as error:
                # a dropped connection or a late answer: the request may have arrived, so it is
                # repeated only if repeating is safe
                if not call.idempotent or attempt == self.max_attempts:
                    raise TransportError(
                        self.redact(f"{call.method} {call.path}: {type(error).__name__}: {error}")
                    ) from None
                self._wait(
                    attempt, None, f"connection lost ({type(error).__name__})", call, limiter
                )
                continue
            if not retryable(response):
                return response
            throttled = response.status_code == 429
            with self._lock:
                self.counters.throttled += throttled
            if (not call.idempotent and not throttled) or attempt == self.max_attempts:
                raise TransportError(
                    self.redact(
                        f"{call.method} {call.path}: HTTP {response.status_code} after {attempt} "
                        f"attempts: {response.text[:300]}"
                    )
                )
            self._wait(attempt, response, f"HTTP {response.status_code}", call, limiter)
        raise AssertionError("unreachable")

    def answer(self, call: Call) -> requests.Response:
        """The response to a call only a real run makes: reading back a job or a list it
        created, which a dry run never has."""
        response = self.send(call)
        if response is None:
            raise TransportError(f"{call.method} {call.path}: a dry run has no answer to read")
        return response

    def _wait(
        self,
        attempt: int,
        response: requests.Response | None,
        why: str,
        call: Call,
        limiter: RateLimiter,
    ) -> None:
        with self._lock:
            self.counters.retries += 1
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        delay *= random.uniform(0.5, 1.0)  # jitter, so clients do not retry in lockstep
        retry_after = _retry_after_seconds(response)
        if response is not None and retry_after is not None:
            if retry_after > self.max_retry_after_seconds:
                raise TransportError(
                    self.redact(
                        f"{call.method} {call.path}: HTTP {response.status_code} asks to wait "
                        f"{retry_after:.0f} s (Retry-After), longer than the "
                        f"{self.max_retry_after_seconds:.0f} s a run waits: run the sync again "
                        f"later. The vendor said: {response.text[:300]}"
                    )
                )
            delay = max(delay, retry_after)
            limiter.pause(retry_after)
        self._check_deadline(call, delay)
        log.info("%s %s: %s, retry %d in %.2fs", call.method, call.path, why, attempt, delay)
        time.sleep(delay)

    def _check_deadline(self, call: Call, wait: float = 0.0) -> None:
        if time.monotonic() + wait > self._deadline:
            raise TransportError(
                f"{call.method} {call.path}: the run's deadline of {self.deadline_seconds:.0f} s "
                "has passed; what was confirmed is checkpointed, run the sync again to go on"
            )

    def _write_planned(self, call: Call, folder: Path) -> None:
        with self._lock:
            self._planned += 1
            number = self._planned
        name = f"{number:06d}-{call.method}-{call.path.strip('/').replace('/', '_')}"
        request = {
            "method": call.method,
            "path": call.path,
            "params": call.params,
            "headers": self.public_headers(call),
            "body": call.body,
        }
        (folder / f"{name[:120]}.json").write_text(json.dumps(request, indent=1))

    @property
    def planned_requests(self) -> int:
        return self._planned


def retryable(response: requests.Response) -> bool:
    """Throttled, or the vendor's own failure: worth another try."""
    return response.status_code == 429 or response.status_code >= 500


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    """Retry-After in seconds (HTTP dates are not used by these vendors)."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
