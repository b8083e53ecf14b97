"""The dashboard's sequence panels through the real app, on SQLite and PostgreSQL: dunning
cases by entry day and days to pay (a debtor paying after touch 2 shows in the recovery
curve), contacts per payer, and the bandit's sends per touch."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from api.service import dashboard_sequence
from bandit.days import day_of
from templates_store import catalog, reports
from templates_store.db import make_engine
from tests.api.conftest import Api
from tests.api.test_sequences import BASE, at, campaign, decide, event
from tests.clock import NOW


def _figures(api: Api, since: int | None = None) -> reports.SequenceFigures:
    """What the dashboard reads for campaign "seq", from ``since`` (default: all of it)."""
    engine = make_engine(api.url)
    try:
        with Session(engine) as session:
            found = catalog.get_campaign(session, key="seq")
            assert found is not None and found.id is not None
            since_day = day_of(BASE) - 30 if since is None else since
            return reports.sequence_figures(session, campaign_id=found.id, since_day=since_day)
    finally:
        engine.dispose()


def _dunning(api: Api) -> None:
    """d-1 pays 3 days after its first contact, on touch 2, then begins a second case;
    d-2 gets two reminders and never pays; d-3 pays on the day of its only contact; d-4 has
    two cases keyed by case_id."""
    campaign(api)
    first = decide(api, "d-1", at())
    second = decide(api, "d-1", at(days=2))
    assert (first["history"]["touch"], second["history"]["touch"]) == (1, 2)
    event(api, "p-1", "pay", second["decision_id"], at(days=3), amount=80.0)
    assert decide(api, "d-1", at(days=5))["history"]["touch"] == 1  # a new case
    decide(api, "d-2", at())
    assert decide(api, "d-2", at(days=3))["history"]["touch"] == 2
    only = decide(api, "d-3", at(days=1))
    event(api, "p-3", "pay", only["decision_id"], at(days=1, hours=2), amount=20.0)
    decide(api, "d-4", at(), case_id="A")
    decide(api, "d-4", at(days=1), case_id="B")


def test_cases_count_from_their_first_contact_to_their_pay(api: Api) -> None:
    _dunning(api)
    figures = _figures(api)
    day = day_of(BASE)
    assert sorted(figures.cases, key=lambda c: (c[0], -1 if c[1] is None else c[1])) == [
        (day, None, 2, 3),  # d-2 (2 contacts) and d-4's case A
        (day, 3, 1, 2),  # d-1's first case: paid 3 days after its first contact, 2 contacts
        (day + 1, None, 1, 1),  # d-4's case B
        (day + 1, 0, 1, 1),  # d-3
        (day + 5, None, 1, 1),  # d-1's second case
    ]
    touches: dict[int, int] = {}
    for touch, _, sends in figures.touches:
        touches[touch] = touches.get(touch, 0) + sends
    assert touches == {1: 6, 2: 2}


def test_the_recovery_curve_and_contacts_per_payer(api: Api) -> None:
    _dunning(api)
    figures = _figures(api)
    today = day_of(NOW)
    days, curves = dashboard_sequence.recovery_curves(figures.cases, today, 60)
    assert days[0] == 0 and days[-1] == today - day_of(BASE)
    whole = curves["all cases"]
    assert whole[0] == 1 / 6  # d-3 paid on its first day
    assert whole[3] == 2 / 6  # d-1 paid on day 3 after its first contact (touch 2)
    seen_for_6 = today - (day_of(BASE) + 5) >= 6  # d-1's second case counts only from then
    assert whole[6] == (2 / 6 if seen_for_6 else 2 / 5)
    page = api.get("/v1/campaigns/seq/dashboard", "analyst")
    assert page.status_code == 200, page.text
    for text in ("Recovery curve", "Allocation per touch", "contacts per payer"):
        assert text in page.text
    assert "contacts per payer<b>4.00</b>" in page.text  # 8 contacts, 2 payers
    assert "recovery rate<b>33.3%</b>" in page.text


def test_an_empty_campaign_has_no_sequence_charts(api: Api) -> None:
    campaign(api)
    assert _figures(api) == reports.SequenceFigures([], [])
    page = api.get("/v1/campaigns/seq/dashboard", "analyst")
    assert page.status_code == 200 and "Recovery curve" not in page.text
    assert "contacts per payer<b>n/a</b>" in page.text


def test_a_window_leaves_out_cases_that_began_before_it(api: Api) -> None:
    _dunning(api)
    later = _figures(api, since=day_of(BASE + timedelta(days=2)))
    # d-1's touch 2 and d-2's touch 2 belong to cases that began before the window
    assert later.cases == [(day_of(BASE) + 5, None, 1, 1)]


case_rows = st.lists(
    st.tuples(
        st.integers(0, 40),  # entry day
        st.one_of(st.none(), st.integers(0, 40)),  # days to pay
        st.integers(1, 5),  # cases
        st.integers(1, 20),  # contacts
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(rows=case_rows, today=st.integers(40, 80))
def test_recovery_curves_are_shares_and_a_cohort_only_grows(
    rows: list[tuple[int, int | None, int, int]], today: int
) -> None:
    days, curves = dashboard_sequence.recovery_curves(rows, today, 60)
    if not rows:
        assert (days, curves) == ([], {})
        return
    assert days == list(range(len(days))) and len(days) <= 61
    for values in curves.values():
        assert len(values) == len(days)
        assert all(v is None or 0.0 <= v <= 1.0 for v in values)
    one_day = [r for r in rows if r[0] == rows[0][0]]
    _, single = dashboard_sequence.recovery_curves(one_day, today, 60)
    shares = [v for v in single["all cases"] if v is not None]
    assert shares == sorted(shares)  # one entry day: the same cases at every k, paid only grows
    paid = sum(n for _, waited, n, _ in one_day if waited is not None and waited <= 0)
    assert single["all cases"][0] == paid / sum(n for *_, n, _ in one_day)
