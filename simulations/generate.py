"""A model that generates true rates, for scenarios too big to write out (``[generator]``).

pay(segment, template, channel) = channel base rate x template effect x segment effect x
interaction noise, with base rates the typical channel rates of ``bandit.priors``, template
effects spread so the best template pays ``template_spread`` times the worst, and days past
due lowering the pay rate. The same seed always gives the same world.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bandit.channels import CHANNELS, Channel
from bandit.outcomes import TRACKED_OUTCOMES
from bandit.priors import TYPICAL_RATES

TYPICAL_CONSENT: Mapping[str, float] = {
    "email": 0.9,
    "sms": 0.7,
    "letter": 1.0,
    "push": 0.3,
    "voice": 0.6,
}
DPD_BUCKETS: tuple[tuple[str, float, float], ...] = (
    # (bucket, pay multiplier, amount multiplier): later buckets pay less, owe more
    ("0-30", 1.3, 0.8),
    ("31-60", 1.0, 1.0),
    ("61-90", 0.75, 1.3),
    ("90+", 0.5, 1.6),
)
RISK_BANDS: tuple[str, ...] = ("a", "b", "c", "d", "e")
MAX_RATE = 0.5
MAX_PAY_FACTOR = 2.0  # no generated pay rate exceeds twice its channel's base rate


class GeneratorSpec(BaseModel):
    """How to generate segments and arms; every field has a realistic default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: Annotated[int, Field(ge=1, le=5000)]
    templates: Annotated[int, Field(ge=1, le=200)]
    channels: Annotated[list[Channel], Field(min_length=1)] = Field(
        default_factory=lambda: cast(list[Channel], list(CHANNELS))
    )
    seed: int = 0
    template_spread: Annotated[float, Field(ge=1.0, le=10.0)] = 1.6
    segment_spread: Annotated[float, Field(ge=0.0, le=2.0)] = 0.2
    interaction: Annotated[float, Field(ge=0.0, le=2.0)] = 0.1
    share_skew: Annotated[float, Field(ge=0.0, le=3.0)] = 0.0
    consent: dict[Channel, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    consent_jitter: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    amount: Annotated[float, Field(gt=0.0)] = 150.0

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value


def segment_key(i: int) -> str:
    """Readable unique keys: days-past-due bucket, risk band, then a region number."""
    dpd = DPD_BUCKETS[i % len(DPD_BUCKETS)][0]
    risk = RISK_BANDS[(i // len(DPD_BUCKETS)) % len(RISK_BANDS)]
    region = i // (len(DPD_BUCKETS) * len(RISK_BANDS))
    return f"dpd={dpd}|risk={risk}|region={region:02d}"


def _shares(n: int, skew: float, rng: np.random.Generator) -> list[float]:
    """Zipf-like traffic shares (equal when ``skew`` is 0) in random order, summing to 1."""
    weights = (np.arange(n) + 1.0) ** -skew
    weights = rng.permutation(weights)
    shares = np.round(weights / weights.sum(), 12)
    shares[0] += 1.0 - shares.sum()
    return [float(s) for s in shares]


def expand(spec: GeneratorSpec) -> dict[str, Any]:
    """Scenario ``segments`` and ``arms`` (plain data, validated by the Scenario model)."""
    rng = np.random.default_rng(spec.seed)
    n_seg, channels = spec.segments, list(spec.channels)
    keys = [segment_key(i) for i in range(n_seg)]
    dpd = np.array([DPD_BUCKETS[i % len(DPD_BUCKETS)] for i in range(n_seg)], dtype=object)
    pay_dpd = np.array([row[1] for row in dpd], dtype=np.float64)
    amount_dpd = np.array([row[2] for row in dpd], dtype=np.float64)
    seg_effect = pay_dpd * np.exp(rng.normal(0.0, spec.segment_spread, n_seg))
    half = np.log(spec.template_spread) / 2.0
    tpl_effect = np.exp(rng.uniform(-half, half, spec.templates))
    if spec.templates > 1:  # pin the extremes so best / worst is exactly the spread
        order = np.argsort(tpl_effect)
        tpl_effect[order[0]], tpl_effect[order[-1]] = np.exp(-half), np.exp(half)
    segments: list[dict[str, Any]] = []
    for key in keys:
        consent: dict[str, float] = {}
        for c in channels:
            base = spec.consent.get(c, TYPICAL_CONSENT[c])
            jitter = rng.uniform(-spec.consent_jitter, spec.consent_jitter) if 0 < base < 1 else 0
            consent[c] = round(float(np.clip(base + jitter, 0.0, 1.0)), 4)
        segments.append({"key": key, "consent": consent})
    for seg, share in zip(segments, _shares(n_seg, spec.share_skew, rng), strict=True):
        seg["share"] = share
    amounts = spec.amount * amount_dpd * np.exp(rng.normal(0.0, 0.2, n_seg))
    arms = []
    for t in range(spec.templates):
        for c in channels:
            base_open, base_click, base_pay = TYPICAL_RATES[c]  # untracked ones go unused
            noise = np.exp(rng.normal(0.0, spec.interaction, n_seg))
            pay = np.clip(
                base_pay * tpl_effect[t] * seg_effect * noise, 1e-5, MAX_PAY_FACTOR * base_pay
            )
            click = np.clip(base_click * np.sqrt(tpl_effect[t]) * noise, 0.0, MAX_RATE)
            arm: dict[str, Any] = {
                "template": f"t{t + 1:02d}",
                "channel": c,
                "pay": {k: round(float(p), 6) for k, p in zip(keys, pay, strict=True)},
                "amount": {k: round(float(a), 2) for k, a in zip(keys, amounts, strict=True)},
            }
            tracked = TRACKED_OUTCOMES[c]
            if tracked[0]:
                arm["open"] = {"default": base_open}
            if tracked[1]:
                arm["click"] = {k: round(float(x), 6) for k, x in zip(keys, click, strict=True)}
            arms.append(arm)
    return {"segments": segments, "arms": arms}
