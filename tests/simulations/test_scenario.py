"""Scenario files: built-ins load and meet the issue's sizes; bad files fail with located errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulations.generate import GeneratorSpec, expand
from simulations.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    load_scenario,
    parse_scenario,
    validate_scenario,
)

MINIMAL = """
name = "two-segments"
days = 10
daily_volume = 100

[[segments]]
key = "dpd=0-30"
share = 0.6
consent = { email = 0.95, sms = 0.7 }

[[segments]]
key = "dpd=31-60"
share = 0.4

[[arms]]
template = "friendly"
channel = "email"
open = { default = 0.25 }
click = { default = 0.03 }
pay = { default = 0.020, "dpd=31-60" = 0.012 }

[[arms]]
template = "firm"
channel = "sms"
pay = { default = 0.03 }
"""


def data() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(MINIMAL)


def test_the_product_example_parses() -> None:
    sc = parse_scenario(MINIMAL)
    assert sc.segment_keys == ["dpd=0-30", "dpd=31-60"]
    assert sc.arm_keys == ["friendly:email", "firm:sms"]
    assert sc.campaign.windows_days.as_tuple() == (3, 7, 14)


def test_builtins_load_and_have_the_promised_sizes() -> None:
    assert {"baseline", "delayed-pay", "drift", "cold-start", "large", "mixed-delay"} <= set(
        builtin_names()
    )
    for name in builtin_names():
        assert isinstance(load_scenario(name), Scenario)
    large = load_scenario("large")
    assert len(large.segments) >= 100 and len(large.arms) >= 40
    cold = load_scenario("cold-start")
    assert len(cold.segments) >= 100
    assert cold.daily_volume / len(cold.segments) < 20  # many small segments
    assert load_scenario("drift").drift


def test_builtin_pay_rates_stay_in_plausible_ranges() -> None:
    for name in builtin_names():
        sc = load_scenario(name)
        for arm in sc.arms:
            assert all(0.0005 <= p <= 0.08 for p in arm.pay.values()), (name, arm.key)


def test_generator_is_deterministic_and_matches_its_spec() -> None:
    spec = GeneratorSpec(segments=30, templates=3, channels=["email", "sms"], seed=4)
    first, second = expand(spec), expand(spec)
    assert first == second
    assert len(first["segments"]) == 30 and len(first["arms"]) == 6
    assert abs(sum(s["share"] for s in first["segments"]) - 1.0) < 1e-9


def change(path: str, value: Any) -> dict[str, Any]:
    """The minimal scenario with one value replaced (path like "arms.0.pay")."""
    out = data()
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return out


DELETE = object()

BAD = [
    (
        "arms.0.pay",
        {"default": 0.02, "dpd=91+": 0.01},
        r"arms\[0\]\.pay: 'dpd=91\+' is not a segment key",
    ),
    (
        "arms.1.pay",
        {"dpd=0-30": 0.02},
        r"arms\[1\]\.pay: no rate for segment 'dpd=31-60' and no 'default'",
    ),
    (
        "arms.0.pay",
        {"default": 1.5},
        r"arms\[0\]\.pay\.default: Input should be less than or equal to 1",
    ),
    (
        "arms.0.pay",
        {"default": 0.02, "dpd=0-30": -0.1},
        r"arms\[0\]\.pay\['dpd=0-30'\]: Input should be greater than or equal to 0",
    ),
    (
        "arms.1.channel",
        "fax",
        r"arms\[1\]\.channel: Input should be 'email', 'sms', 'letter', 'push' or 'voice'",
    ),
    ("arms.1.open", {"default": 0.9}, r"arms\[1\]\.open: sms does not track opens"),
    ("arms.0.click", {"default": 0.5}, r"arms\[0\]\.click: above the open rate in segment"),
    ("arms.0.pya", {"default": 0.5}, r"arms\[0\]\.pya: Extra inputs are not permitted"),
    ("segments.1.share", 0.5, r"segments: shares sum to 1\.1; they must sum to 1"),
    ("segments.1.key", "dpd=0-30", r"segments\[1\]\.key: 'dpd=0-30' appears twice"),
    (
        "segments.0.consent",
        {"email": 1.2},
        r"segments\[0\]\.consent\.email: Input should be less than or equal to 1",
    ),
    ("days", 0, r"days: Input should be greater than or equal to 1"),
    ("daily_volume", DELETE, r"daily_volume: give daily_volume or \[population\]"),
    (
        "campaign",
        {"objective": "profit"},
        r"campaign\.objective: objective must be 'pay', 'net_recovery' or weights",
    ),
    ("campaign", {"champion": "nice:fax"}, r"campaign\.champion: 'nice:fax' is not an arm"),
    (
        "campaign",
        {"windows_days": {"pay": 2}},
        r"campaign\.windows_days: the pay window must be the longest",
    ),
    (
        "delay",
        {"distribution": "fixed", "mean_days": 20},
        r"delay: a fixed delay of 20 days never lands inside the 14-day pay window",
    ),
    (
        "delay",
        {"distribution": "gamma"},
        r"delay\.distribution: Input should be 'exponential', 'lognormal' or 'fixed'",
    ),
    (
        "drift",
        [{"at_day": 3, "arm": "friendly:letter", "pay_factor": 0.5}],
        r"drift\[0\]\.arm: 'friendly:letter' is not an arm",
    ),
    (
        "drift",
        [{"at_day": 30, "arm": "firm:sms", "pay_factor": 0.5}],
        r"drift\[0\]\.at_day: day 30 is past the last day",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_scenarios_name_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        validate_scenario(change(path, value), "test.toml")


def test_every_problem_is_listed_with_the_source() -> None:
    bad = change("arms.0.pay", {"default": 0.02, "dpd=91+": 0.01})
    bad["days"] = -1
    with pytest.raises(ScenarioError) as info:
        validate_scenario(bad, "mine.toml")
    assert str(info.value).startswith("scenario mine.toml is invalid:")
    assert any(p.startswith("days:") for p in info.value.problems)


def test_generator_errors_are_located() -> None:
    with pytest.raises(ScenarioError, match=r"generator\.templates: Input should be greater"):
        validate_scenario(
            {
                "name": "g",
                "days": 5,
                "daily_volume": 10,
                "generator": {"segments": 3, "templates": 0},
            }
        )


def test_toml_syntax_errors_and_missing_files_are_readable(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenario("name = ", "broken.toml")
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match="no built-in scenario or file named 'basline'"):
        load_scenario("basline")


def test_a_scenario_file_on_disk_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_scenario(path).name == "two-segments"
    assert load_scenario(str(path)).days == 10
