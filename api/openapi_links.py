"""OpenAPI links: how a response's values feed the next request (a decision id into its audit
and its events, a template's key into its preview and lifecycle, ...).

They document the API's flows in /docs and let stateful tests (schemathesis) chain real
requests instead of guessing ids. All of them are here, added to the generated schema by
``api.openapi_doc.documented``; the routes stay as they are. A link names its source and target operations
by method and path (the contract), never by FastAPI's generated operation ids.
"""

from __future__ import annotations

from typing import Any

Operation = tuple[str, str]  # (method, path) as in the OpenAPI document

CAMPAIGNS: Operation = ("post", "/v1/campaigns")
CAMPAIGN: Operation = ("get", "/v1/campaigns/{campaign}")
TEMPLATE_LIST: Operation = ("get", "/v1/campaigns/{campaign}/templates")
REGISTER: Operation = ("post", "/v1/campaigns/{campaign}/templates")
UPDATE: Operation = ("put", "/v1/campaigns/{campaign}/templates/{template}")
PREVIEW: Operation = ("post", "/v1/campaigns/{campaign}/templates/{template}/preview")
LIFECYCLE: Operation = ("post", "/v1/campaigns/{campaign}/templates/{template}/{action}")
DECIDE: Operation = ("post", "/v1/campaigns/{campaign}/decisions")
DECIDE_BATCH: Operation = ("post", "/v1/campaigns/{campaign}/decisions/batch")
AUDIT: Operation = ("get", "/v1/decisions/{decision_id}")
EVENT: Operation = ("post", "/v1/events")
EVENTS: Operation = ("post", "/v1/events/batch")
ARMS: Operation = ("get", "/v1/campaigns/{campaign}/arms")
EXPORT: Operation = ("get", "/v1/campaigns/{campaign}/decisions/export")
DASHBOARD: Operation = ("get", "/v1/campaigns/{campaign}/dashboard")


def _link(
    target: Operation,
    description: str,
    parameters: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    link: dict[str, Any] = {"target": target, "description": description}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


CREATED_CAMPAIGN = {"campaign": "$response.body#/key"}
SAME_CAMPAIGN = {"campaign": "$request.path.campaign"}
TEMPLATE = {"campaign": "$request.path.campaign", "template": "$response.body#/key"}
DECISION = {"decision_id": "$response.body#/decision_id"}
# an event for the decision just made, at the time it was made (an event may not precede it)
EVENT_OF_DECISION = {
    "event_id": "$response.body#/decision_id",
    "decision_id": "$response.body#/decision_id",
    "campaign": "$request.path.campaign",
    "occurred_at": "$response.body#/decided_at",
}
FIRST = "$response.body#/results/0"

# (source operation, status) -> link name -> link
LINKS: dict[tuple[Operation, str], dict[str, dict[str, Any]]] = {
    (CAMPAIGNS, "201"): {
        "ReadCampaign": _link(CAMPAIGN, "the campaign just created", CREATED_CAMPAIGN),
        "RegisterTemplate": _link(REGISTER, "a template for it", CREATED_CAMPAIGN),
        "ListTemplates": _link(TEMPLATE_LIST, "its templates", CREATED_CAMPAIGN),
        "Decide": _link(DECIDE, "a decision in it", CREATED_CAMPAIGN),
        "ArmStatistics": _link(ARMS, "its arms", CREATED_CAMPAIGN),
        "ExportDecisions": _link(EXPORT, "its decision log", CREATED_CAMPAIGN),
        "Dashboard": _link(DASHBOARD, "its dashboard", CREATED_CAMPAIGN),
    },
    (REGISTER, "201"): {
        "PreviewTemplate": _link(PREVIEW, "render the template just registered", TEMPLATE),
        "UpdateTemplate": _link(UPDATE, "a new version of it", TEMPLATE),
        "ChangeTemplateStatus": _link(LIFECYCLE, "pause, resume or retire it", TEMPLATE),
        "ListTemplates": _link(TEMPLATE_LIST, "the campaign's templates", SAME_CAMPAIGN),
    },
    (UPDATE, "200"): {
        "PreviewVersion": _link(
            PREVIEW,
            "render the version just made",
            TEMPLATE,
            {"version": "$response.body#/version"},
        ),
        "ChangeTemplateStatus": _link(LIFECYCLE, "pause, resume or retire it", TEMPLATE),
    },
    (LIFECYCLE, "200"): {
        "PreviewTemplate": _link(PREVIEW, "render the template", TEMPLATE),
        "UpdateTemplate": _link(UPDATE, "a new version of it", TEMPLATE),
        "ArmStatistics": _link(ARMS, "the campaign's arms", SAME_CAMPAIGN),
    },
    (DECIDE, "200"): {
        "ReadDecision": _link(AUDIT, "the audit record of the decision", DECISION),
        "ReportEvent": _link(EVENT, "an event for the decision", body=EVENT_OF_DECISION),
        "ArmStatistics": _link(
            ARMS,
            "the arms of the decision's segment",
            {**SAME_CAMPAIGN, "segment": "$response.body#/segment"},
        ),
    },
    (DECIDE_BATCH, "200"): {
        "ReadDecision": _link(
            AUDIT, "the audit record of the first decision", {"decision_id": f"{FIRST}/decision_id"}
        ),
        "ReportEvents": _link(
            EVENTS,
            "events for the first decision",
            body={
                "events": [
                    {
                        "event_id": f"{FIRST}/decision_id",
                        "decision_id": f"{FIRST}/decision_id",
                        "campaign": "$request.path.campaign",
                        "occurred_at": f"{FIRST}/decided_at",
                    }
                ]
            },
        ),
        "ExportDecisions": _link(EXPORT, "the campaign's decision log", SAME_CAMPAIGN),
    },
    (EVENT, "202"): {
        "ReadDecision": _link(AUDIT, "the decision the event was attributed to", DECISION),
    },
    (AUDIT, "200"): {
        "ReadCampaign": _link(
            CAMPAIGN, "the decision's campaign", {"campaign": "$response.body#/campaign"}
        ),
        "ArmStatistics": _link(
            ARMS,
            "the arms of the decision's segment",
            {"campaign": "$response.body#/campaign", "segment": "$response.body#/segment"},
        ),
    },
}


def _operation(schema: dict[str, Any], operation: Operation) -> dict[str, Any]:
    method, path = operation
    try:
        found: dict[str, Any] = schema["paths"][path][method]
    except KeyError:
        raise LookupError(f"OpenAPI link: no operation {method.upper()} {path}") from None
    return found


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add ``LINKS`` to the responses of a generated schema (in place; again is harmless)."""
    for (source, status), links in LINKS.items():
        responses = _operation(schema, source)["responses"]
        if status not in responses:
            raise LookupError(f"OpenAPI link: {source[0].upper()} {source[1]} has no {status}")
        out = responses[status].setdefault("links", {})
        for name, link in links.items():
            target = _operation(schema, link["target"])
            out[name] = {
                "operationId": target["operationId"],
                **{k: v for k, v in link.items() if k != "target"},
            }
    return schema
