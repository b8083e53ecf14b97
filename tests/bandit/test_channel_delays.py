"""Per-channel delay models shrunk toward the campaign-wide one: properties, and a seeded
check that letters paying weeks late and SMS paying in days each get an unbiased rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.delays import (
    ChannelDelays,
    DelayModel,
    estimate_channel_delays,
    exposure,
)
from bandit.posterior import posterior
from bandit.priors import pooled_prior
from bandit.stats import OUTCOMES, PAY, ArmStats, effective_trials

N_OUT = len(OUTCOMES)
FAST = settings(max_examples=100, deadline=None)
window_sets = st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 30))


@st.composite
def channel_evidence(draw: st.DrawFn) -> dict[str, object]:
    """Delay counts, pending decisions by age and closed decisions for 1-4 channels."""
    windows = draw(window_sets)
    channels = ("email", "sms", "letter", "voice")[: draw(st.integers(1, 4))]
    days = max(windows)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c = len(channels)
    scale = 10.0 ** rng.uniform(-1, 3, (c, 1, 1))
    counts = rng.poisson(rng.uniform(0, 30, (c, N_OUT, days)) * scale).astype(float)
    quiet = rng.random(c) < 0.3  # some channels have no data at all
    counts[quiet] = 0.0
    pending = rng.poisson(rng.uniform(0, 50), (c, days)).astype(float) * ~quiet[:, None]
    closed = rng.integers(0, 2_000, c).astype(float) * ~quiet
    return {
        "delay_counts": counts,
        "elapsed": np.arange(days) + 0.5,
        "pending_counts": pending,
        "closed": closed,
        "channels": channels,
        "windows": windows,
        "channel_weight": draw(st.floats(0.1, 200.0)),
    }


@FAST
@given(channel_evidence(), st.lists(st.floats(-3.0, 40.0), min_size=1, max_size=30))
def test_each_arms_arrived_share_is_bounded_monotone_and_one_from_the_window(
    case: dict[str, object], extra: list[float]
) -> None:
    model = estimate_channel_delays(**case)  # type: ignore[arg-type]
    arms = [*model.channels, "push", *model.channels[::-1]]  # push: no model of its own
    windows = np.array(model.windows, dtype=float)
    elapsed = np.sort(np.concatenate([extra, windows, windows - 1e-9, np.arange(0.0, 32.0, 0.5)]))
    arrived = model.arrived(elapsed, arms)
    assert arrived.shape == (len(arms), len(elapsed), N_OUT)
    assert np.all((arrived >= 0.0) & (arrived <= 1.0))
    assert np.all(np.diff(arrived, axis=1) >= -1e-12), "share arrived went down with age"
    assert np.all(arrived[:, elapsed[:, None] >= windows[None, :]] == 1.0)
    np.testing.assert_allclose(model.pmf.sum(axis=2), 1.0, rtol=1e-12)
    for k, channel in enumerate(arms):  # each arm has its channel's curve
        np.testing.assert_array_equal(arrived[k], model.of(channel).arrived(elapsed))


@FAST
@given(channel_evidence())
def test_a_channel_without_data_has_the_pooled_curve(case: dict[str, object]) -> None:
    counts = np.asarray(case["delay_counts"])
    pending = np.asarray(case["pending_counts"])
    closed = np.asarray(case["closed"])
    channels = (*tuple(case["channels"]), "new")  # type: ignore[arg-type]
    more = {
        "delay_counts": np.concatenate([counts, np.zeros((1, *counts.shape[1:]))]),
        "pending_counts": np.concatenate([pending, np.zeros((1, pending.shape[1]))]),
        "closed": np.append(closed, 0.0),
        "channels": channels,
    }
    model = estimate_channel_delays(**(case | more))  # type: ignore[arg-type]
    np.testing.assert_allclose(model.of("new").pmf, model.pooled.pmf, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.of("unknown").pmf, model.pooled.pmf, rtol=0, atol=0)
    # sends but not a single success say nothing about the shape either
    more["pending_counts"][-1] = 40.0
    more["closed"][-1] = 5_000.0
    quiet = estimate_channel_delays(**(case | more))  # type: ignore[arg-type]
    np.testing.assert_allclose(quiet.of("new").pmf, quiet.pooled.pmf, rtol=0, atol=1e-6)


@FAST
@given(channel_evidence())
def test_with_many_delays_a_channel_has_its_own_empirical_curve(case: dict[str, object]) -> None:
    """Scaled up a billion times, a channel's pmf is its own truncation-corrected histogram
    n_d / E_d (normalised on the window), whatever the other channels do."""
    counts = np.asarray(case["delay_counts"]).copy()
    counts[0] += 1.0  # at least one delay in every day bucket
    pending = np.asarray(case["pending_counts"]).copy()
    closed = np.asarray(case["closed"]).copy() + 1.0
    big = 1e9
    counts[0] *= big
    pending[0] *= big
    closed[0] *= big
    model = estimate_channel_delays(
        **(case | {"delay_counts": counts, "pending_counts": pending, "closed": closed})  # type: ignore[arg-type]
    )
    windows = tuple(case["windows"])  # type: ignore[arg-type]
    days = max(windows)
    exposed = exposure(np.asarray(case["elapsed"]), pending[0], closed[0], days)
    inside = np.arange(days)[None, :] < np.asarray(windows)[:, None]
    empirical = np.where(inside, counts[0] / exposed, 0.0)
    empirical /= empirical.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.pmf[0], empirical, rtol=0, atol=1e-6)


def test_per_arm_trials_weigh_each_arm_with_its_own_curve() -> None:
    rng = np.random.default_rng(3)
    stats = ArmStats(
        rng.random((2, 3, N_OUT)), rng.random((2, 3)) * 10, rng.random((2, 3, 14)), np.ones((2, 3))
    )
    models = [DelayModel.prior(), DelayModel.naive(), DelayModel.prior(mean_days=(2, 3, 9))]
    per_arm = DelayModel(np.stack([m.pmf for m in models]), models[0].windows)
    elapsed = np.arange(14) + 0.5
    together = effective_trials(stats, per_arm.arrived(elapsed), 7.0)
    for k, m in enumerate(models):
        alone = effective_trials(stats, m.arrived(elapsed), 7.0)
        np.testing.assert_allclose(together[:, k], alone[:, k], rtol=1e-12)
    with pytest.raises(ValueError, match="arrived must have shape"):
        effective_trials(stats, np.ones((2, 14, N_OUT)))


def test_bad_channel_evidence_is_refused() -> None:
    counts, elapsed = np.zeros((2, N_OUT, 14)), np.arange(14) + 0.5
    with pytest.raises(ValueError, match="pending_counts must have shape"):
        estimate_channel_delays(counts, elapsed, np.zeros(14), np.zeros(2), ["sms", "letter"])
    with pytest.raises(ValueError, match="delay_counts must have shape"):
        estimate_channel_delays(counts, elapsed, np.zeros((1, 14)), np.zeros(1), ["sms"])
    with pytest.raises(ValueError, match="channel_weight must be greater than zero"):
        estimate_channel_delays(
            counts, elapsed, np.zeros((2, 14)), np.zeros(2), ["sms", "letter"], channel_weight=0
        )
    with pytest.raises(ValueError, match="pmf must have shape"):
        ChannelDelays(DelayModel.prior(), ("sms",), np.zeros((2, N_OUT, 14)))


# --- letters late, SMS early ------------------------------------------------------------------

PAY_WINDOW = 30
WINDOWS = (3, 7, PAY_WINDOW)
CHANNELS = ("sms", "letter")
MEAN_DELAY = {"sms": 2.0, "letter": 20.0}
RATE = {"sms": 0.03, "letter": 0.025}


def channel_log(
    rng: np.random.Generator, channel: str, decisions: int, days: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Decisions uniform over ``days``, observed at t = days; lognormal pay delays (sd of the
    log 0.4). Returns pay delay counts by day (W,), pending decisions by age (W,), closed."""
    age = days * rng.random(decisions)
    sigma = 0.4
    delay = rng.lognormal(np.log(MEAN_DELAY[channel]) - sigma**2 / 2, sigma, decisions)
    pays = (rng.random(decisions) < RATE[channel] / np.mean(delay < PAY_WINDOW)) & (
        delay < PAY_WINDOW
    )
    seen = pays & (delay <= age)
    counts = np.bincount(np.floor(delay[seen]).astype(int), minlength=PAY_WINDOW)
    pending = age < PAY_WINDOW
    by_age = np.bincount(np.floor(age[pending]).astype(int), minlength=PAY_WINDOW)
    return counts.astype(float), by_age.astype(float), float((~pending).sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_channel_delays_make_each_channels_rate_right_where_one_model_is_off(
    seed: int,
) -> None:
    """Letters pay ~20 days after sending, SMS ~2; 60 days of decisions, half still pending.
    One delay model for both takes young letters for nearly closed trials (rate too low) and
    young SMS for barely started ones (rate too high)."""
    rng = np.random.default_rng(seed)
    logs = [channel_log(rng, c, 400_000, 60.0) for c in CHANNELS]
    delay_counts = np.zeros((len(CHANNELS), N_OUT, PAY_WINDOW))
    delay_counts[:, PAY] = [counts for counts, _, _ in logs]
    by_age = np.array([pending for _, pending, _ in logs])
    closed = np.array([c for _, _, c in logs])
    elapsed = np.arange(PAY_WINDOW) + 0.5
    model = estimate_channel_delays(delay_counts, elapsed, by_age, closed, CHANNELS, WINDOWS)

    successes = np.zeros((1, len(CHANNELS), N_OUT))
    successes[0, :, PAY] = delay_counts[:, PAY].sum(axis=1)
    stats = ArmStats(successes, closed[None], by_age[None], (closed + by_age.sum(axis=1))[None])
    tiny = pooled_prior(np.zeros((1, 2, N_OUT)), np.zeros((1, 2, N_OUT)), list(CHANNELS))
    truth = np.array([RATE[c] for c in CHANNELS])

    def pay_rate(delays: DelayModel) -> np.ndarray:
        return posterior(stats, tiny, delays, elapsed=elapsed).rate_mean()[0, :, PAY]

    per_channel = pay_rate(model.for_arms(CHANNELS))
    pooled = pay_rate(model.pooled)
    np.testing.assert_allclose(per_channel, truth, rtol=0.03)
    sms, letter = (pooled - truth) / truth
    assert sms > 0.08 and letter < -0.10, (pooled, truth)  # measured: +12..15%, -15..18%
