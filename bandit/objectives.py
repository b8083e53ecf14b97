"""What a campaign optimises: the probability of paying, net recovery, or weighted outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bandit.outcomes import OUTCOMES

ObjectiveKind = Literal["pay", "net_recovery", "weighted"]


@dataclass(frozen=True)
class Objective:
    """``pay``: P(pay in window); ``net_recovery``: P(pay) x amount - cost;
    ``weighted``: sum of weights x outcome rates (outcomes a channel does not track count 0).
    """

    kind: ObjectiveKind = "pay"
    weights: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if self.kind not in ("pay", "net_recovery", "weighted"):
            raise ValueError(f"objective must be pay, net_recovery or weights, got {self.kind!r}")
        if len(self.weights) != len(OUTCOMES) or any(w < 0 for w in self.weights):
            raise ValueError(
                "objective weights must be three non-negative numbers (open, click, pay)"
            )
        if self.kind == "weighted" and sum(self.weights) <= 0:
            raise ValueError("at least one objective weight must be greater than zero")

    @classmethod
    def parse(cls, spec: str | Mapping[str, float]) -> Objective:
        """From the campaign's JSON: "pay", "net_recovery" or {"open": w, "click": w, "pay": w}."""
        if isinstance(spec, str):
            if spec not in ("pay", "net_recovery"):
                raise ValueError(
                    f"objective must be 'pay', 'net_recovery' or weights, got {spec!r}"
                )
            return cls(kind=spec)  # type: ignore[arg-type]
        unknown = set(spec) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"objective weights name unknown outcomes: {sorted(unknown)}")
        w = tuple(float(spec.get(o, 0.0)) for o in OUTCOMES)
        return cls(kind="weighted", weights=(w[0], w[1], w[2]))

    @property
    def single_outcome(self) -> int | None:
        """The outcome index when the objective is one Beta per arm (closed-form propensity)."""
        if self.kind == "pay":
            return OUTCOMES.index("pay")
        if self.kind == "weighted":
            nonzero = [i for i, w in enumerate(self.weights) if w > 0]
            return nonzero[0] if len(nonzero) == 1 else None
        return None
