"""The OpenAPI document as an integrator's generator reads it: valid, short stable operation
ids with tags, the bearer scheme on every operation but the public ones, typed answers whose
always-sent fields are required, every error code and reason code listed, JSON errors, and
/docs served without a CDN."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from api.openapi_doc import BEARER, TAGS
from api.schemas import ERROR_CODES, REASON_CODES
from tests.api.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
# the contract: a generated client's method names (api/routes: operation_id=)
OPERATION_IDS = {
    ("get", "/healthz"): "healthz",
    ("get", "/metrics"): "metrics",
    ("post", "/v1/campaigns"): "create_campaign",
    ("get", "/v1/campaigns/{campaign}"): "get_campaign",
    ("patch", "/v1/campaigns/{campaign}"): "update_campaign",
    ("get", "/v1/campaigns/{campaign}/templates"): "list_templates",
    ("get", "/v1/campaigns/{campaign}/variables"): "list_variables",
    ("post", "/v1/campaigns/{campaign}/templates"): "register_template",
    ("put", "/v1/campaigns/{campaign}/templates/{template}"): "update_template",
    ("post", "/v1/campaigns/{campaign}/templates/{template}/preview"): "preview_template",
    ("post", "/v1/campaigns/{campaign}/templates/{template}/{action}"): "change_template_status",
    ("post", "/v1/campaigns/{campaign}/decisions"): "decide",
    ("post", "/v1/campaigns/{campaign}/decisions/batch"): "decide_batch",
    ("get", "/v1/decisions/{decision_id}"): "get_audit",
    ("post", "/v1/events"): "record_event",
    ("post", "/v1/events/batch"): "record_events",
    ("get", "/v1/campaigns/{campaign}/arms"): "get_arms",
    ("get", "/v1/campaigns/{campaign}/decisions/export"): "export_decisions",
    ("get", "/v1/campaigns/{campaign}/dashboard"): "get_dashboard",
}
PUBLIC = {("get", "/healthz"), ("get", "/metrics")}


@pytest.fixture
def document(sqlite_api: Api) -> dict[str, Any]:
    r = sqlite_api.client.get("/openapi.json")
    assert r.status_code == 200
    found: dict[str, Any] = r.json()
    return found


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_operation_has_a_short_stable_id_and_one_known_tag(document: dict[str, Any]) -> None:
    found = operations(document)
    ids = {key: operation["operationId"] for key, operation in found.items()}
    assert {k: ids.get(k) for k in OPERATION_IDS} == OPERATION_IDS
    assert len(set(ids.values())) == len(ids)
    names = {t["name"] for t in TAGS}
    assert {t["name"] for t in document["tags"]} == names
    for key, operation in found.items():
        assert re.fullmatch(r"[a-z][a-z_]{1,30}", operation["operationId"]), key
        assert len(operation.get("tags", [])) == 1 and operation["tags"][0] in names, key


def test_a_bearer_key_is_required_everywhere_but_the_public_operations(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"][BEARER]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{BEARER: []}]
    for key, operation in operations(document).items():
        if key in PUBLIC:
            assert operation["security"] == []
            assert not {"401", "403"} & set(operation["responses"]), key
        else:
            assert "security" not in operation  # the document's: the bearer key
            assert {"401", "403"} <= set(operation["responses"]), key


def test_errors_are_declared_as_the_json_they_are(document: dict[str, Any]) -> None:
    """Also on the dashboard, whose page is HTML."""
    for key, operation in operations(document).items():
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/json"], (key, status)
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (key, status)


def _referenced(document: dict[str, Any], schema: Any, seen: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                _referenced(document, document["components"]["schemas"][name], seen)
        for value in schema.values():
            _referenced(document, value, seen)
    elif isinstance(schema, list):
        for value in schema:
            _referenced(document, value, seen)


def test_answers_require_every_field_they_always_send(document: dict[str, Any]) -> None:
    """Every model reachable from a 2xx answer requires all its properties (``ErrorItem``,
    whose keys depend on the error, aside); request bodies keep their defaults optional."""
    answered: set[str] = set()
    for operation in operations(document).values():
        for status, response in operation["responses"].items():
            _referenced(document, response.get("content", {}), answered)
            assert status.startswith(("2", "4")), status
    assert {"DecideOut", "CampaignPublic", "AuditOut", "WindowsOut", "BatchItemError"} <= answered
    for name in answered - {"ErrorItem"}:
        schema = document["components"]["schemas"][name]
        assert set(schema.get("required", [])) == set(schema.get("properties", {})), name
    schemas = document["components"]["schemas"]
    assert schemas["DecideIn"]["required"] == ["debtor_id"]
    assert schemas["CampaignCreate"]["required"] == ["key"]
    assert "required" not in schemas["Windows"]


def test_answers_list_their_values(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def enum(model: str, field: str) -> list[Any]:
        schema = schemas[model]["properties"][field]
        options = schema.get("anyOf", [schema])
        return sorted(v for o in options for v in resolve(document, o).get("enum", []))

    channels = ["email", "letter", "push", "sms", "voice"]
    assert enum("DecideOut", "channel") == channels
    assert enum("ArmOut", "channel") == channels
    assert enum("ArmOut", "status") == ["active", "paused", "paused_guardrail", "retired"]
    assert enum("TemplatePublic", "status") == ["active", "paused", "retired"]
    assert enum("TemplatePublic", "purpose") == ["collection", "marketing"]
    assert enum("ArmsOut", "objective") == ["net_recovery", "pay", "weighted"]
    assert enum("Reason", "code") == sorted(REASON_CODES)
    assert enum("ErrorDetail", "code") == sorted(ERROR_CODES)
    assert schemas["PreviewOut"]["properties"]["previews"]["items"] == {
        "$ref": "#/components/schemas/Preview"
    }
    error = schemas["EventResult"]["properties"]["error"]["anyOf"][0]
    assert error == {"$ref": "#/components/schemas/ItemError"}
    audit = schemas["AuditOut"]["properties"]
    assert {"inputs", "arms", "posterior", "outcomes", "events"} <= set(audit)


def _sources() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "api").rglob("*.py")))


def test_every_error_code_the_service_raises_is_listed() -> None:
    text = _sources()
    raised = set(re.findall(r"ApiError\(\s*\d{3},\s*\"([a-z_]+)\"", text))
    raised |= {f"{what}_not_found" for what in re.findall(r"not_found\(\"([a-z_]+)\"", text)}
    raised |= set(re.findall(r"error_body\(\s*\"([a-z_]+)\"", text))
    handler = re.search(r"codes = \{(.*?)\}", (ROOT / "api" / "errors.py").read_text(), re.S)
    assert handler is not None
    raised |= set(re.findall(r"\"([a-z_]+)\",", handler.group(1)))
    assert len(raised) > 20
    assert raised <= set(ERROR_CODES), sorted(raised - set(ERROR_CODES))


def test_every_reason_code_is_listed() -> None:
    text = _sources() + (ROOT / "bandit" / "sequence.py").read_text()
    given = set(re.findall(r"Reason\(\s*code=\"([a-z_]+)\"", text))
    given |= set(re.findall(r"return \(\"([a-z_]+)\", detail", text))
    given |= set(re.findall(r"^[A-Z_]+ = \"([a-z_]+)\"  # the reason code", text, re.M))
    assert {"too_soon", "max_touches", "sms_too_long", "condition"} <= given
    assert given <= set(REASON_CODES), sorted(given - set(REASON_CODES))


def test_docs_work_offline(sqlite_api: Api) -> None:
    """Swagger UI's script and style come from the app itself, never a CDN."""
    page = sqlite_api.client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"(src|href)=[\"']https?://", page.text), page.text
    assets = re.findall(r"(?:src|href)=[\"'](/[^\"']+)[\"']", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert sqlite_api.client.get(asset).status_code == 200, asset
    assert sqlite_api.client.get("/redoc").status_code == 404  # not offered


def test_the_key_prompt_is_one_page_for_every_campaign_name(sqlite_api: Api) -> None:
    """A browser without a key learns nothing about which campaigns exist."""
    pages = [
        sqlite_api.client.get(f"/v1/campaigns/{name}/dashboard", headers={"Accept": "text/html"})
        for name in ("loans", "no-such-campaign")
    ]
    assert [p.status_code for p in pages] == [200, 200]
    assert pages[0].text == pages[1].text and "API key" in pages[0].text
