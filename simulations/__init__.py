"""dunning-bandit: simulations — scenarios, the offline simulator and off-policy replay.

For notebooks::

    import simulations
    result = simulations.simulate("baseline", ["thompson", "uniform"], reps=5, seed=1)
    result.summary()                      # the JSON summary; result.records() for a DataFrame
    simulations.write_report(result, "report.html")
    estimate = simulations.replay("log.csv", "thompson", ["replay", "ips", "snips", "dr"])
"""

from simulations.decision_log import DecisionLog, DecisionLogError, read_log
from simulations.replay import ReplayResult, replay
from simulations.report import write_report
from simulations.results import PolicyRun, SimulationResult
from simulations.runner import simulate
from simulations.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "DecisionLog",
    "DecisionLogError",
    "PolicyRun",
    "ReplayResult",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "builtin_names",
    "load_scenario",
    "parse_scenario",
    "read_log",
    "replay",
    "simulate",
    "write_report",
]
