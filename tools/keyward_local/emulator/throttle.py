"""The emulator's IAM gate: every IAM request counted per operation and, when a rate is set, those
beyond it refused as AWS refuses them (the caller answers `Throttling`)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`rate` requests per second, bursts up to one second's worth."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        """Whether one more request fits now (and spends its token)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class IamGate:
    """Counts IAM requests per operation and, when a rate is set, throttles them."""

    def __init__(self, rate: float | None):
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.bucket = TokenBucket(rate) if rate else None

    def set_rate(self, rate: float | None) -> None:
        """Throttles beyond `rate` requests per second from now on (None: never)."""
        with self.lock:
            self.bucket = TokenBucket(rate) if rate else None

    @property
    def rate(self) -> float | None:
        """The current rate, or None when IAM is not throttled."""
        bucket = self.bucket
        return bucket.rate if bucket else None

    def admit(self, operation: str) -> bool:
        """Counts one request of `operation`; False when it is throttled."""
        bucket = self.bucket
        allowed = bucket.take() if bucket else True
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            if not allowed:
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
        return allowed

    def snapshot(self, which: str) -> dict[str, int]:
        """The counts of every request ("calls") or of the throttled ones, by operation."""
        with self.lock:
            return dict(sorted((self.calls if which == "calls" else self.throttled).items()))

    def reset(self) -> None:
        """Forgets every count."""
        with self.lock:
            self.calls.clear()
            self.throttled.clear()
