"""The audit record rebuilds the debtor the way the request built it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from templates_store import log
from templates_store.db import make_engine
from tests.api.conftest import FRIENDLY, Api, debtor
from tests.api.test_contact_rules import NOTICE, make_campaign
from tests.clock import at


def decide_at(api: Api, debtor_id: str, days: float, **kw: Any) -> dict[str, Any]:
    body = debtor(debtor_id, at=at(days=days - 40), **kw)
    r = api.post("/v1/campaigns/loans/decisions", "sender", body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def excluded_by(audit: dict[str, Any]) -> dict[str, set[str]]:
    return {a["arm"]: {r["code"] for r in a["excluded_by"]} for a in audit["arms"]}


def test_an_audit_without_recorded_contacts_counts_the_first_contact_as_the_request_did(
    api: Api,
) -> None:
    """A decision recorded before its counted contacts were stored with it: the audit reads
    them back from the log, and adds the stand-in for a first-contact template sent before
    the caps' window on the request's own condition (the debtor was sent it before), also
    when the decision itself is that template again. It used to add it only for decisions of
    another template, and so reported first_contact against arms the request had found
    eligible."""
    make_campaign(api, templates=(FRIENDLY, NOTICE), first_contact_template="notice")
    first = decide_at(api, "d-1", 0, channels=["letter"])
    again = decide_at(api, "d-1", 20, channels=["letter"])  # long after the caps' windows
    assert first["arm"] == again["arm"] == "notice:letter"
    recorded = api.get(f"/v1/decisions/{again['decision_id']}", "analyst").json()
    assert excluded_by(recorded)["friendly:email"] == {"no_consent"}  # as the request saw it
    with Session(make_engine(api.url)) as session:
        decision = log.get_decision(session, decision_id=again["decision_id"])
        assert decision is not None
        decision.audit = {k: v for k, v in decision.audit.items() if k != "contacts"}
        session.add(decision)
        session.commit()
    rebuilt = api.get(f"/v1/decisions/{again['decision_id']}", "analyst").json()
    assert rebuilt["inputs"]["contacts"] is None  # not recorded with it
    assert rebuilt["arms"] == recorded["arms"]
    assert excluded_by(rebuilt)["friendly:email"] == {"no_consent"}
