"""Scenario files (TOML): the true world a policy is simulated in, validated with located errors.
Segments (traffic and consent shares), arms (template x channel) with true rates and amounts per
segment, costs, pay delays, drift, send slots, the campaign's options, volume and days;
``[generator]`` may stand in for segments and arms (``simulations.generate``). Errors name the
field: ``arms[2].pay: 'dpd=31-60' is not a segment key``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bandit import Objective
from bandit.caps import Cap
from bandit.channels import Channel
from bandit.sequence import HISTORY_ATTRIBUTES, condition_problems
from simulations.generate import GeneratorSpec, expand
from simulations.guardrails import GuardrailSpec

DEFAULT = "default"

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


class ScenarioError(ValueError):
    """A scenario that cannot be used; ``problems`` lists each located issue."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"scenario {source} is invalid:\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DelaySpec(_Model):
    """Days from a message to the payment it causes, conditioned on paying inside the window."""

    distribution: Literal["exponential", "lognormal", "fixed"] = "exponential"
    mean_days: Positive = 3.0
    sigma: Positive = 1.0  # lognormal shape (sd of log delay)
    by_channel: dict[Channel, Positive] = Field(default_factory=dict)  # mean_days per channel


class WindowsSpec(_Model):
    open: Annotated[int, Field(ge=1, le=60)] = 3
    click: Annotated[int, Field(ge=1, le=60)] = 7
    pay: Annotated[int, Field(ge=1, le=60)] = 14

    @model_validator(mode="after")
    def _pay_is_longest(self) -> WindowsSpec:
        if self.pay < max(self.open, self.click):
            raise ValueError("the pay window must be the longest (open and click close first)")
        return self

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.open, self.click, self.pay)


class CapSpec(_Model):
    """A frequency cap as in the API (``bandit.caps.Cap``): at most ``max`` contacts in any
    ``days`` days on ``channel`` ("*": all channels)."""

    channel: str
    max: Annotated[int, Field(ge=0)]
    days: Positive

    @model_validator(mode="after")
    def _is_a_cap(self) -> CapSpec:
        Cap(self.channel, self.max, self.days)  # raises ValueError with a readable message
        return self


class CampaignSpec(_Model):
    """The campaign options the learning policies run with (as in ``POST /v1/campaigns``)."""

    objective: str | dict[str, float] = "pay"
    exploration_floor: Share = 0.0
    burn_in: Annotated[int, Field(ge=0)] = 0
    half_life_days: Positive | None = None
    pooled_prior: bool = True
    control_share: Share = 0.0
    champion: str | None = None  # arm key "template:channel"; default the first arm
    windows_days: WindowsSpec = Field(default_factory=WindowsSpec)
    # history attributes added to the scenario's segment keys; a name that is an attribute of
    # the segment keys (``risk`` of ``risk=low``) is already in the segment (scenario_checks)
    segment_by: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    buckets: dict[
        Literal["touch", "days_since_last"], Annotated[list[int], Field(min_length=1)]
    ] = Field(default_factory=dict)
    min_days_between: Annotated[float, Field(ge=0.0)] | None = None
    max_touches: Annotated[int, Field(ge=1)] | None = None
    caps: list[CapSpec] = Field(default_factory=list)
    guardrails: list[GuardrailSpec] = Field(default_factory=list, max_length=1)
    send_slots: list[str] | None = None  # local windows "HH:MM-HH:MM" (simulations.slot_world)

    @field_validator("buckets")
    @classmethod
    def _ascending(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        for name, edges in value.items():
            least = 1 if name == "touch" else 0
            if edges != sorted(set(edges)) or edges[0] < least:
                raise ValueError(
                    f"{name}: bucket edges must be ascending whole numbers from {least}"
                )
        return value

    @field_validator("objective")
    @classmethod
    def _objective_parses(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        Objective.parse(value)  # raises ValueError with a readable message
        return value

    @property
    def parsed_objective(self) -> Objective:
        return Objective.parse(self.objective)

    @property
    def history_by(self) -> tuple[str, ...]:
        """The history attributes of ``segment_by``, in its order: the parts a contact's
        history adds to its segment key."""
        return tuple(name for name in self.segment_by if name in HISTORY_ATTRIBUTES)


class SegmentSpec(_Model):
    key: Annotated[str, Field(min_length=1)]
    share: Annotated[float, Field(gt=0.0, le=1.0)]
    consent: dict[Channel, Share] = Field(default_factory=dict)  # unlisted channels: 1.0


class ArmSpec(_Model):
    """True rates per segment key; ``default`` covers unlisted segments."""

    template: Annotated[str, Field(min_length=1, pattern=r"^[^:]+$")]
    channel: Channel
    pay: dict[str, Rate]
    open: dict[str, Rate] = Field(default_factory=dict)  # omitted: not tracked (0)
    click: dict[str, Rate] = Field(default_factory=dict)
    amount: dict[str, Positive] = Field(default_factory=lambda: {DEFAULT: 100.0})
    # Version 2 (with [population] only): the sequence's effect on this arm.
    opt_out: dict[str, Rate] = Field(default_factory=dict)  # per segment, like pay
    touch_factor: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    after: dict[Literal["opened", "clicked"], Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=dict
    )
    when: dict[str, Any] | None = None

    @field_validator("touch_factor")
    @classmethod
    def _touch_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            number = key.removesuffix("+")
            if not number.isdigit() or int(number) < 1:
                raise ValueError(f"{key!r} is not a touch: use '1', '2', ... or '3+' (touch >= 3)")
        return value

    @field_validator("when")
    @classmethod
    def _when_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            problems = condition_problems(value)
            if problems:
                raise ValueError("\n".join(f"{field}: {problem}" for field, problem in problems))
        return value

    @property
    def key(self) -> str:
        return f"{self.template}:{self.channel}"


class DriftSpec(_Model):
    """From ``at_day`` on, multiply an arm's pay rate (in one segment, or all)."""

    at_day: Annotated[int, Field(ge=0)]
    arm: str
    pay_factor: Annotated[float, Field(ge=0.0)]
    segment: str | None = None


class PopulationSpec(_Model):
    """Debtors stay until they pay: ``new_per_day`` enter, an unpaid debtor is due again
    ``cadence_days`` after a contact and leaves after ``max_touches`` contacts."""

    new_per_day: Annotated[int, Field(ge=1, le=1_000_000)]
    cadence_days: Annotated[int, Field(ge=1, le=365)] = 3
    max_touches: Annotated[int, Field(ge=1, le=50)] = 6


class Scenario(_Model):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    days: Annotated[int, Field(ge=1, le=3650)]
    daily_volume: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    population: PopulationSpec | None = None
    seed: int = 0
    reps: Annotated[int, Field(ge=1, le=10_000)] = 20
    amount_cv: Positive = 0.5  # coefficient of variation of a paid amount (gamma)
    costs: dict[Channel, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    delay: DelaySpec = Field(default_factory=DelaySpec)
    campaign: CampaignSpec = Field(default_factory=CampaignSpec)
    segments: Annotated[list[SegmentSpec], Field(min_length=1)]
    arms: Annotated[list[ArmSpec], Field(min_length=1)]
    drift: list[DriftSpec] = Field(default_factory=list)
    slots: dict[str, dict[str, Annotated[float, Field(ge=0.0)]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        from simulations.scenario_checks import cross_checks  # they build on this module
        from simulations.slot_world import slot_problems

        problems = cross_checks(self) + slot_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def segment_keys(self) -> list[str]:
        return [s.key for s in self.segments]

    @property
    def arm_keys(self) -> list[str]:
        return [a.key for a in self.arms]

    @property
    def champion_index(self) -> int:
        champion = self.campaign.champion
        return 0 if champion is None else self.arm_keys.index(champion)

    def with_overrides(self, **changes: Any) -> Scenario:
        """A validated copy with some top-level fields changed (e.g. ``days=20``)."""
        return validate_scenario({**self.model_dump(), **changes}, f"{self.name} (overridden)")


def rate_for(rates: Mapping[str, float], segment: str, missing: float) -> float:
    """The rate of one segment: its own, else ``default``, else ``missing``."""
    return float(rates.get(segment, rates.get(DEFAULT, missing)))


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _problems(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    out: list[str] = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        loc = _location((*prefix, *item["loc"]))
        lines = message.splitlines() or [message]
        out.extend(f"{loc}: {line}" if loc else line for line in lines)
    return out


def validate_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """A Scenario from parsed TOML; ``[generator]`` is expanded first."""
    payload = dict(data)
    if "generator" in payload:
        if "segments" in payload or "arms" in payload:
            raise ScenarioError(source, ["generator: give [generator] or segments/arms, not both"])
        try:
            spec = GeneratorSpec.model_validate(payload.pop("generator"))
        except ValidationError as exc:
            raise ScenarioError(source, _problems(exc, ("generator",))) from None
        payload.update(expand(spec))
    slots, campaign = payload.get("slots"), payload.get("campaign") or {}
    if slots and isinstance(campaign, dict) and campaign.get("send_slots") is None:
        payload["campaign"] = {**campaign, "send_slots": sorted(slots)}  # [slots]'s windows
    try:
        return Scenario.model_validate(payload)
    except ValidationError as exc:
        raise ScenarioError(source, _problems(exc)) from None


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """A Scenario from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"not valid TOML: {exc}"]) from None
    return validate_scenario(data, source)


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("simulations") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name (``baseline``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(
                str(path), [f"no such file (built-ins: {', '.join(builtin_names())})"]
            )
        return parse_scenario(path.read_text(encoding="utf-8"), str(path))
    name = str(name_or_path)
    if name not in builtin_names():
        raise ScenarioError(
            name,
            [
                f"no built-in scenario or file named {name!r}; built-ins: {', '.join(builtin_names())}"
            ],
        )
    text = (resources.files("simulations") / "scenarios" / f"{name}.toml").read_text("utf-8")
    return parse_scenario(text, name)
