"""Guardrails in the simulator: the service's rule (``bandit.guardrails``) on each
repetition's arms. Each day's sends and opt-outs add to every (repetition, arm); an arm whose
guardrail is breached is stopped for the rest of that repetition (no manager resumes it in a
simulation). Vectorised over repetitions and arms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from bandit.guardrails import Guardrail, breached_many
from bandit.stats import BoolArray, FloatArray, IntArray


class GuardrailSpec(BaseModel):
    """A ``[campaign]`` guardrail as in the API; simulated debtors opt out (an arm's
    ``opt_out`` rate) but never complain, so ``opt_out`` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    outcome: Literal["opt_out"]
    max_rate: Annotated[float, Field(gt=0.0, lt=1.0)]


class ArmGuards:
    """The guardrails of every (repetition, arm): sends, opt-outs, and which arms stopped."""

    def __init__(self, rails: Sequence[Guardrail], reps: int, arms: int) -> None:
        self.rails = tuple(rails)
        self.sends = np.zeros((reps, arms), dtype=np.int64)
        self.count = np.zeros((reps, arms), dtype=np.int64)
        self.paused = np.zeros((reps, arms), dtype=np.bool_)

    def open(self, rep: IntArray) -> BoolArray:
        """(n, K) the arms still allowed for debtors of repetitions ``rep``."""
        return ~self.paused[rep]

    def observe(self, rep: IntArray, arm: IntArray, opt_out: BoolArray) -> FloatArray:
        """Add a day's sends and opt-outs, stop the arms that breach a guardrail; returns the
        number of stopped arms per repetition (R,)."""
        if self.rails:
            np.add.at(self.sends, (rep, arm), 1)
            np.add.at(self.count, (rep, arm), opt_out.astype(np.int64))
            for rail in self.rails:
                self.paused |= breached_many(rail, self.sends, self.count)
        return np.asarray(self.paused.sum(axis=1), dtype=np.float64)
