"""Stateful schemathesis over the app's OpenAPI links (api/openapi_links.py): scenarios of a
few chained requests (a decision made, then its audit record read and an event reported for
it; a template registered, then previewed, versioned, paused; a campaign created, then read,
given templates and decisions, ...) with the values of one response in the next request.
Every response: no 5xx, a documented status, the documented content type, a body valid
against the documented model.

schemathesis starts scenarios only at POST /v1/campaigns (the one operation it takes for a
safe start); a new campaign has no templates, so its decisions send nothing and have no id
to follow. Two more starts use the seeded campaign ``loans``: a decision for a new debtor
(the documented example) and a template with a new key (the documented example).

Each scenario runs on its own copy of one seeded SQLite database, so its outcome does not
depend on the scenarios before it and Hypothesis can replay it. Bounded and derandomized: a
fixed number of scenarios of a few steps each. Links are always followed: schemathesis would
otherwise swap a linked value for a random one now and then, with a random number generator
of its own (outside Hypothesis), and a replay would differ.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, rule
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi import stateful as openapi_stateful
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.openapi_links import LINKS
from api.settings import Settings
from tests.api.conftest import FRIENDLY, Api, build_api, debtor, setup_campaign

SCENARIOS = 40
STEPS = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# inside quiet hours nothing is sent; 15:00 UTC is 10:00 in the debtor's New York
AT = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
# the operations scenarios start with; every other one is reached only by following links
STARTS = {
    "POST /v1/campaigns",
    "POST /v1/campaigns/{campaign}/decisions",
    "POST /v1/campaigns/{campaign}/templates",
}


def _seed(folder: Path) -> tuple[Api, Path]:
    """The seeded database and its keys."""
    path = folder / "seed.db"
    api = build_api(f"sqlite:///{path}")
    with api.client:
        setup_campaign(api)
        r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-0", at=AT.isoformat()))
        assert r.status_code == 200, r.text
    api.client.app.state.context.engine.dispose()
    return api, path


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    seeded, seed = _seed(tmp_path)
    headers = seeded.as_("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", seeded.client.app)
    schema.config.update(headers=headers)
    # positive data only: the stateless test sends the negative cases; here they end chains
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    # no literals mined from the loaded Python modules: which modules the test process has
    # loaded (other test files) would change the generated data, and so the scenarios
    schema.config.analysis.constants.enabled = False
    decide = schema["/v1/campaigns/{campaign}/decisions"]["POST"]
    register = schema["/v1/campaigns/{campaign}/templates"]["POST"]
    # follow every link every time (see the module's docstring)
    monkeypatch.setattr(openapi_stateful, "BASE_EXPLORATION_RATE", 0.0)
    monkeypatch.setattr(openapi_stateful, "DEFAULT_USE_PROBABILITY", 1.0)
    scenarios = iter(range(10**6))
    catch_all = Bundle("catch_all")

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        """One scenario on a fresh copy of the seeded database."""

        seen: ClassVar[collections.Counter[tuple[str, int]]] = collections.Counter()

        def setup(self) -> None:
            self.copy = tmp_path / f"scenario-{next(scenarios)}.db"
            source, target = sqlite3.connect(seed), sqlite3.connect(self.copy)
            try:
                source.backup(target)  # what is committed, in the WAL too
            finally:
                source.close()
                target.close()
            url = f"sqlite:///{self.copy}"
            self.app: FastAPI = create_app(
                Settings(database_url=url, evidence_cache_seconds=0, seed=1)
            )

        def teardown(self) -> None:
            self.app.state.context.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.copy}{suffix}").unlink(missing_ok=True)
            super().teardown()

        def _start(self, case: Case) -> StepOutput | None:
            self.recorder.record_case(case=case)
            return self._step(StepInput.initial(case))

        @rule(target=catch_all, n=st.integers(0, 1000))
        def decide_in_seeded_campaign(self, n: int) -> StepOutput | None:
            body = debtor(f"s-{n}", at=AT.isoformat())
            case = decide.Case(path_parameters={"campaign": "loans"}, body=body, headers=headers)
            return self._start(case)

        @rule(target=catch_all, key=st.from_regex(r"t-[a-z0-9]{1,12}", fullmatch=True))
        def register_in_seeded_campaign(self, key: str) -> StepOutput | None:
            body = {**FRIENDLY, "key": key}
            case = register.Case(path_parameters={"campaign": "loans"}, body=body, headers=headers)
            return self._start(case)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"app": self.app}

        def after_call(self, response: Any, case: Case) -> None:
            super().after_call(response, case)
            self.seen[(case.operation.label, response.status_code)] += 1

        def validate_response(
            self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    yield Scenarios


def test_links_resolve_in_the_schema() -> None:
    """Every link names operations and parameters the schema has (schemathesis refuses a
    state machine otherwise; this says which link is wrong)."""
    schema = create_app(Settings(database_url="sqlite://")).openapi()
    count = 0
    for ((method, path), status), links in LINKS.items():
        out = schema["paths"][path][method]["responses"][status]["links"]
        for name, link in links.items():
            target = schema["paths"][link["target"][1]][link["target"][0]]
            assert out[name]["operationId"] == target["operationId"]
            names = {p["name"] for p in target.get("parameters", [])}
            assert set(link.get("parameters", {})) <= names, (name, names)
            count += 1
    assert count >= 20


def test_stateful(machine: Any) -> None:
    machine.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    seen = machine.seen
    linked = sorted({op for op, status in seen if 200 <= status < 300} - STARTS)
    # the links were followed: a decision's audit record and several more operations answered
    # with a 2xx to requests made from earlier responses (a guard against a no-op run)
    assert ("GET /v1/decisions/{decision_id}", 200) in seen, linked
    assert len(linked) >= 5, linked
