"""dunning-bandit's pure decision math: numpy/scipy only, time and randomness as arguments."""

from bandit.decide import BatchDecision, DecisionConfig, decide_batch
from bandit.delays import ChannelDelays, DelayModel, estimate_channel_delays, estimate_delays
from bandit.objectives import Objective
from bandit.policies import (
    UCB1,
    Champion,
    EpsilonGreedy,
    Groups,
    Oracle,
    Policy,
    PolicyState,
    Thompson,
    Uniform,
    group_debtors,
)
from bandit.posterior import Posterior, objective_mean, posterior, sample_objective
from bandit.priors import Prior, PriorSettings, flat_prior, pooled_prior
from bandit.stats import OUTCOMES, ArmStats, decay, effective_trials, rescale, scaled_weight

__all__ = [
    "OUTCOMES",
    "UCB1",
    "ArmStats",
    "BatchDecision",
    "Champion",
    "ChannelDelays",
    "DecisionConfig",
    "DelayModel",
    "EpsilonGreedy",
    "Groups",
    "Objective",
    "Oracle",
    "Policy",
    "PolicyState",
    "Posterior",
    "Prior",
    "PriorSettings",
    "Thompson",
    "Uniform",
    "decay",
    "decide_batch",
    "effective_trials",
    "estimate_channel_delays",
    "estimate_delays",
    "flat_prior",
    "group_debtors",
    "objective_mean",
    "pooled_prior",
    "posterior",
    "rescale",
    "sample_objective",
    "scaled_weight",
]
