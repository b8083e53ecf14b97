"""An integrator's client: generated with openapi-python-client from the /openapi.json of a
running server (uvicorn on a SQLite file), then the whole flow through that client only:
create a campaign, register, version, preview and pause templates, decide one debtor and a
batch, report events one by one and in a batch, read the arms, the audit record and the
export, and the errors. Every answer must parse into the generated models, with no field the
document does not declare (a model's ``additional_properties`` stays empty), and every status
must be documented (``raise_on_unexpected_status``). The generator runs offline."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest
from openapi_spec_validator import validate

from tests.api.conftest import FIRM, FRIENDLY, debtor
from tests.api.live import migrate_with_keys, running, server_env
from tests.clock import at

PACKAGE = "dunning_generated_client"


def generate(spec: dict[str, Any], folder: Path) -> Path:
    """The client package generated from ``spec`` into ``folder / PACKAGE``."""
    (folder / "openapi.json").write_text(json.dumps(spec))
    (folder / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: offline, fast
    command = [sys.executable, "-m", "openapi_python_client", "generate"]
    command += ["--path", str(folder / "openapi.json"), "--output-path", str(folder / PACKAGE)]
    command += ["--meta", "none", "--config", str(folder / "config.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # the generator warns (and leaves a model or a response out) for what it cannot type
    assert "Warning" not in done.stdout and "WARNING" not in done.stdout, done.stdout
    return folder / PACKAGE


@pytest.fixture
def client_package(tmp_path: Path) -> Iterator[tuple[ModuleType, str, dict[str, str]]]:
    """(the generated package, the server's base URL, {role: key}) for a live server."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    made = migrate_with_keys(url)
    with running(server_env(url), tmp_path / "server.log") as server:
        spec = httpx.get(server.base + "/openapi.json", timeout=30).json()
        validate(spec)  # openapi-spec-validator: a valid OpenAPI 3.1 document
        generate(spec, tmp_path)
        sys.path.insert(0, str(tmp_path))
        try:
            yield importlib.import_module(PACKAGE), server.base, made
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
                del sys.modules[name]


def declared_only(value: Any, where: str = "answer") -> None:
    """Every generated model in ``value`` holds only the fields its schema declares (a map
    type, one with no declared field, holds its entries as additional properties)."""
    if attrs.has(type(value)):
        fields = [f.name for f in attrs.fields(type(value)) if f.name != "additional_properties"]
        extra = getattr(value, "additional_properties", {})
        assert not (fields and extra), f"{where}: undeclared fields {sorted(extra)}"
        for name in fields:
            declared_only(getattr(value, name), f"{where}.{name}")
        for name, item in extra.items():
            declared_only(item, f"{where}[{name}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            declared_only(item, f"{where}[{i}]")


def test_a_generated_client_drives_the_whole_flow(
    client_package: tuple[ModuleType, str, dict[str, str]],
) -> None:
    package, base, keys = client_package
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")

    def op(tag: str, name: str) -> Any:
        return importlib.import_module(f"{api.__name__}.{tag}.{name}")

    def client(role: str) -> Any:
        return package.AuthenticatedClient(
            base_url=base, token=keys[role], raise_on_unexpected_status=True, timeout=30.0
        )

    admin, sender = client("admin"), client("sender")

    def call(operation: Any, status: int, expected: type, **kw: Any) -> Any:
        response = operation.sync_detailed(**kw)
        assert response.status_code == status, response.content
        assert isinstance(response.parsed, expected), response.content
        declared_only(response.parsed)
        return response.parsed

    # the service
    health = call(op("service", "healthz"), 200, models.HealthOut, client=package.Client(base))
    assert health.status == "ok"
    # a campaign and its templates (admin may do what a manager does)
    body = models.CampaignCreate.from_dict(
        {"key": "loans", "segment_by": ["risk"], "burn_in": 0, "currency": "USD"}
    )
    campaign = call(
        op("campaigns", "create_campaign"), 201, models.CampaignPublic, client=admin, body=body
    )
    assert campaign.key == "loans" and campaign.windows_days.pay == 14
    read = call(
        op("campaigns", "get_campaign"), 200, models.CampaignPublic, client=admin, campaign="loans"
    )
    assert read.quiet_hours.start == "21:00"
    patched = call(
        op("campaigns", "update_campaign"),
        200,
        models.CampaignPublic,
        client=admin,
        campaign="loans",
        body=models.CampaignPatch.from_dict({"max_touches": 10}),
    )
    assert (patched.revision, patched.max_touches, patched.burn_in) == (2, 10, 0)
    for template in (FRIENDLY, FIRM):
        made = call(
            op("templates", "register_template"),
            201,
            models.TemplatePublic,
            client=admin,
            campaign="loans",
            body=models.TemplateCreate.from_dict(template),
        )
        assert made.version == 1 and made.status.value == "active"
    versioned = call(
        op("templates", "update_template"),
        200,
        models.TemplatePublic,
        client=admin,
        campaign="loans",
        template="firm",
        body=models.TemplateUpdate.from_dict({k: v for k, v in FIRM.items() if k != "key"}),
    )
    assert versioned.version == 2
    preview = call(
        op("templates", "preview_template"),
        200,
        models.PreviewOut,
        client=admin,
        campaign="loans",
        template="friendly",
        body=models.PreviewIn.from_dict({"variables": {"name": "Ada"}, "channel": "sms"}),
    )
    assert [p.channel.value for p in preview.previews] == ["sms"]
    assert "Ada" in preview.previews[0].body
    action = models.ChangeTemplateStatusAction
    for step in (action.PAUSE, action.RESUME):
        call(
            op("templates", "change_template_status"),
            200,
            models.TemplatePublic,
            client=admin,
            campaign="loans",
            template="firm",
            action=step,
        )
    listed = op("templates", "list_templates").sync_detailed(client=admin, campaign="loans")
    assert listed.status_code == 200 and {t.key for t in listed.parsed} == {"friendly", "firm"}
    assert all(t.status.value == "active" for t in listed.parsed)
    needed = call(
        op("templates", "list_variables"),
        200,
        models.VariablesOut,
        client=sender,
        campaign="loans",
    )
    assert needed.variables == ["amount_due", "name", "opt_out_url", "pay_url"]
    # decisions
    one = call(
        op("decisions", "decide"),
        200,
        models.DecideOut,
        client=sender,
        campaign="loans",
        body=models.DecideIn.from_dict(debtor("d-1")),
    )
    assert one.send and one.decision_id and one.channel.value in {"email", "sms", "voice"}
    items = [debtor(f"d-{n}") for n in (2, 3, 4)] + [debtor("d-5", timezone="Mars/Base")]
    batch = call(
        op("decisions", "decide_batch"),
        200,
        models.DecideBatchOut,
        client=sender,
        campaign="loans",
        body=models.DecideBatchIn.from_dict({"items": items}),
    )
    assert len(batch.results) == 4 and isinstance(batch.results[3], models.BatchItemError)
    assert batch.results[3].index == 3
    assert batch.results[3].error.code == models.ItemErrorCode.UNKNOWN_TIMEZONE
    # events
    event = models.EventIn.from_dict(
        {
            "event_id": "e-1",
            "type": "pay",
            "decision_id": one.decision_id,
            "occurred_at": at(hours=2),
            "amount": 120.0,
        }
    )
    accepted = call(op("events", "record_event"), 202, models.EventOut, client=sender, body=event)
    assert accepted.status.value == "accepted"
    events = models.EventBatchIn.from_dict(
        {
            "events": [
                {
                    "event_id": "e-2",
                    "type": "open",
                    "decision_id": batch.results[0].decision_id,
                    "occurred_at": at(hours=1),
                },
                {
                    "event_id": "e-3",
                    "type": "open",
                    "decision_id": "no-such-decision",
                    "occurred_at": at(hours=1),
                },
            ]
        }
    )
    results = call(
        op("events", "record_events"), 202, models.EventBatchOut, client=sender, body=events
    ).results
    assert [r.status.value for r in results] == ["accepted", "error"]
    assert results[1].error.code.value == "decision_not_found" and results[1].error.status == 404
    # analysis
    arms = call(op("analysis", "get_arms"), 200, models.ArmsOut, client=admin, campaign="loans")
    assert arms.objective.value == "pay" and {a.status.value for a in arms.arms} == {"active"}
    audit = call(
        op("decisions", "get_audit"),
        200,
        models.AuditOut,
        client=admin,
        decision_id=one.decision_id,
    )
    assert audit.decision_id == one.decision_id and audit.outcomes.amount == 120.0
    assert audit.settings_revision == 2 and audit.settings.max_touches == 10
    assert [e.event_id for e in audit.events] == ["e-1"] and any(a.chosen for a in audit.arms)
    assert audit.posterior is not None and one.arm in audit.posterior.arms.additional_properties
    export = op("analysis", "export_decisions").sync_detailed(client=admin, campaign="loans")
    assert export.status_code == 200 and export.content.decode().count("\r\n") == 5
    # errors: parsed into the documented error body, its code one of the listed codes
    missing = op("campaigns", "get_campaign").sync_detailed(client=admin, campaign="nope")
    assert missing.status_code == 404 and isinstance(missing.parsed, models.ErrorOut)
    assert missing.parsed.error.code == models.ErrorDetailCode.CAMPAIGN_NOT_FOUND
    refused = op("campaigns", "create_campaign").sync_detailed(client=sender, body=body)
    assert refused.status_code == 403 and refused.parsed.error.code.value == "forbidden"
    bad = op("decisions", "decide").sync_detailed(
        client=sender,
        campaign="loans",
        body=models.DecideIn.from_dict(debtor("d-9", timezone="Mars/Base")),
    )
    assert bad.status_code == 422 and bad.parsed.error.code.value == "unknown_timezone"
    dashboard = op("dashboard", "get_dashboard").sync_detailed(client=sender, campaign="loans")
    assert dashboard.status_code == 403 and dashboard.parsed.error.code.value == "forbidden"
