"""schemathesis over the app's own /openapi.json: no 5xx, and every response matches the
schema (status code documented, body valid against the documented model).

One app on a SQLite file, made when the module is imported (schemathesis reads the schema
at collection time to make one test per operation), with a campaign, templates and a
decision, so that the generated requests reach the decision flow rather than a 404. The
examples are bounded and derandomized: the same cases on every run.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api, build_api, debtor, setup_campaign

MAX_EXAMPLES = 25


def _world() -> tuple[Api, str]:
    folder = Path(tempfile.mkdtemp(prefix="dunning-schemathesis-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    api = build_api(f"sqlite:///{folder / 'api.db'}")
    with api.client:
        setup_campaign(api)
        fuzz = {"key": "fuzz", "renditions": [{"channel": "voice", "locale": "en", "body": "Hi"}]}
        assert api.post("/v1/campaigns/loans/templates", "manager", fuzz).status_code == 201
        at = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15).isoformat()
        r = api.post("/v1/campaigns/loans/decisions", "sender", debtor("d-0", at=at))
        assert r.status_code == 200, r.text
    return api, r.json()["decision_id"]


API, DECISION = _world()
schema = schemathesis.openapi.from_asgi("/openapi.json", API.client.app)
schema.config.update(
    headers=API.as_("admin"),
    # path parameters name things that exist (else nearly every request is a 404): the
    # generated bodies then go through the real flow; "fuzz" may be paused or retired
    parameters={"campaign": "loans", "template": "fuzz", "decision_id": DECISION},
)
# Bounded: the documented examples, then at most MAX_EXAMPLES generated cases per operation.
# The coverage phase is off: it enumerates every boundary the schema defines (~1,600
# requests, about a minute), which is not a bound.
schema.config.phases.coverage.enabled = False
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)
