"""What every request shares: the engine, the settings, the policy's random generator, a
small cache of slowly changing campaign evidence (pooled prior, delay model) and the catalog
entries that cannot go stale (api.service.catalog_cache)."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from api.service.catalog_cache import CatalogCache
from api.settings import Settings


@dataclass
class TtlCache:
    """Values kept at most ``seconds`` old; the bound on staleness is the only contract."""

    seconds: float
    clock: Callable[[], float] = time.monotonic  # seconds; tests give their own
    _values: dict[Any, tuple[float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value of ``key`` if fresh, else ``compute()`` (then remembered)."""
        if self.seconds <= 0:
            return compute()
        hit = self.fresh(key)
        if hit is not None:
            return hit
        value = compute()
        self.put(key, value)
        return value

    def fresh(self, key: Any) -> Any:
        """The value of ``key`` if it is younger than ``seconds``, else None."""
        if self.seconds <= 0:
            return None
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and self.clock() - hit[0] < self.seconds:
            return hit[1]
        return None

    def drop(self, key: Any) -> None:
        """Forget ``key`` (e.g. a key revoked by this process)."""
        with self._lock:
            self._values.pop(key, None)

    def put(self, key: Any, value: Any) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._values[key] = (self.clock(), value)
            if len(self._values) > 1024:
                self._values.pop(next(iter(self._values)))


@dataclass
class Turn:
    """A lock that the requests of one process take turns on, awaited without blocking the
    event loop or holding a worker thread: waiters queue on an asyncio lock of their loop;
    the holder also takes a thread lock (for requests of other event loops, e.g. tests,
    which poll for it)."""

    _thread_lock: threading.Lock = field(default_factory=threading.Lock)
    _loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    async def acquire(self) -> None:
        loop_lock = self._loop_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        await loop_lock.acquire()
        try:  # held by a request of another event loop (tests): poll, never block the loop
            while not self._thread_lock.acquire(blocking=False):
                await asyncio.sleep(0.001)
        except BaseException:  # cancelled while waiting: nothing was taken but the loop lock
            loop_lock.release()
            raise

    def release(self) -> None:
        """From the event loop that acquired."""
        self._thread_lock.release()
        self._loop_locks[asyncio.get_running_loop()].release()


@dataclass
class ServiceContext:
    engine: Engine
    settings: Settings
    rng: np.random.Generator
    cache: TtlCache
    keys: TtlCache
    allocations: TtlCache  # api.service.allocations
    catalog: CatalogCache = field(default_factory=CatalogCache)
    rng_lock: threading.Lock = field(default_factory=threading.Lock)
    idle_rngs: list[np.random.Generator] = field(default_factory=list)
    sqlite_turn: Turn = field(default_factory=Turn)

    @classmethod
    def create(cls, engine: Engine, settings: Settings) -> ServiceContext:
        return cls(
            engine=engine,
            settings=settings,
            rng=np.random.default_rng(settings.seed),
            cache=TtlCache(settings.evidence_cache_seconds),
            keys=TtlCache(settings.key_cache_seconds),
            allocations=TtlCache(settings.allocation_cache_seconds),
        )

    @contextmanager
    def generator(self) -> Iterator[np.random.Generator]:
        """A generator that no other request uses meanwhile (thread-safe): an idle one when
        there is one, else a new independent one (making one costs ~25 µs, a decide's
        whole policy step when it reuses an allocation)."""
        with self.rng_lock:
            rng = self.idle_rngs.pop() if self.idle_rngs else self._spawn()
        try:
            yield rng
        finally:
            with self.rng_lock:
                self.idle_rngs.append(rng)

    def _spawn(self) -> np.random.Generator:
        return np.random.default_rng(int(self.rng.integers(0, 2**63 - 1)))
