"""What every request shares: the engine, the settings, the policy's random generator and a
small cache of slowly changing campaign evidence (pooled prior, delay model)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from api.settings import Settings


@dataclass
class TtlCache:
    """Values kept at most ``seconds`` old; the bound on staleness is the only contract."""

    seconds: float
    _values: dict[Any, tuple[float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self.seconds <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()
        with self._lock:
            self._values[key] = (now, value)
            if len(self._values) > 1024:
                self._values.pop(next(iter(self._values)))
        return value


@dataclass
class ServiceContext:
    engine: Engine
    settings: Settings
    rng: np.random.Generator
    cache: TtlCache
    rng_lock: threading.Lock = field(default_factory=threading.Lock)
    sqlite_turn: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, engine: Engine, settings: Settings) -> ServiceContext:
        return cls(
            engine=engine,
            settings=settings,
            rng=np.random.default_rng(settings.seed),
            cache=TtlCache(settings.evidence_cache_seconds),
        )

    def spawn_rng(self) -> np.random.Generator:
        """An independent generator for one request (thread-safe)."""
        with self.rng_lock:
            seed = int(self.rng.integers(0, 2**63 - 1))
        return np.random.default_rng(seed)
