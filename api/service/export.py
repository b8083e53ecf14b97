"""The decision log as CSV (PRODUCT.md "Decision log format"): the version 1 columns, then
the version 2 ones (history, send slot, void), then ``debt_id`` (extra columns are allowed)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from sqlmodel import Session

from api.service import campaigns
from api.service.analysis import slot_fields
from api.service.context import ServiceContext
from bandit.log_cells import neutralise
from templates_store import log
from templates_store.models import Decision

EXPORT_COLUMNS = (
    "decision_id",
    "decided_at",
    "campaign",
    "segment",
    "arm",
    "propensity",
    "opened",
    "clicked",
    "paid",
    "amount",
    "cost",
    "control",
    "template_version",
    "channel",
    "locale",
    "touch",
    "last_outcome",
    "case_id",
    "slot",
    "arm_propensity",
    "slot_propensity",
    "send_at",
    "void",
    "debt_id",
)


def export_csv(ctx: ServiceContext, campaign_key: str) -> Iterator[str]:
    """The decision log in the replay format, streamed in chunks (own session). Text cells are
    neutralised against spreadsheet formulas (bandit.log_cells.neutralise); numbers
    are written as they are."""
    with Session(ctx.engine) as session:
        campaign = campaigns.load(session, campaign_key)
        assert campaign.id is not None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; quotes any CR or LF
        writer.writerow(EXPORT_COLUMNS)
        for n, (d, segment, arm) in enumerate(log.export_rows(session, campaign_id=campaign.id)):
            writer.writerow(
                (
                    neutralise(d.id),
                    d.decided_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    neutralise(campaign.key),
                    neutralise(segment),
                    neutralise(arm),
                    repr(float(d.propensity)),
                    int(d.opened_at is not None),
                    int(d.clicked_at is not None),
                    int(d.paid_at is not None),
                    d.amount,
                    d.cost,
                    int(d.control),
                    d.template_version,
                    neutralise(d.channel),
                    neutralise(d.locale),
                    d.touch,
                    (d.audit.get("history") or {}).get("last_outcome", ""),
                    neutralise(d.case_id or ""),
                    *_slot_cells(d),
                    neutralise(d.debt_id or ""),
                )
            )
            if n % 500 == 499:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def _slot_cells(d: Decision) -> tuple[Any, ...]:
    """The export's slot columns (a decision without a slot: its propensity is the arm's)."""
    fields = slot_fields(d)
    return (
        neutralise(d.slot or ""),
        repr(float(fields["arm_propensity"])),
        repr(float(fields["slot_propensity"])),
        fields["send_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        int(d.void),
    )
