"""Who is calling: a key's role and scope, and what a scoped key may see.

A scoped key sees only its campaigns. Anything of another campaign is answered exactly as if
it did not exist: the same 404 body, after the same work (one scope query whether the thing
is missing or out of scope), so neither the answer nor its timing tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from api.errors import not_found
from templates_store import keys

NONE = -1  # a campaign id no scope holds: the scope query for something that does not exist


@dataclass(frozen=True)
class Caller:
    """An API key's role and, when ``scoped``, that it sees only its scope's campaigns."""

    role: str
    key_id: int
    scoped: bool = False

    def sees(self, session: Session, campaign_id: int | None) -> bool:
        """Whether the campaign is visible (None: a thing that does not exist; for a scoped
        key the scope is queried all the same)."""
        if not self.scoped:
            return campaign_id is not None
        cid = NONE if campaign_id is None else campaign_id
        return keys.in_scope(session, key_id=self.key_id, campaign_id=cid) and cid != NONE

    def check_campaign(self, session: Session, campaign_key: str) -> None:
        """404 ``campaign_not_found`` unless a scoped key's scope holds the campaign (missing
        or out of scope: one query and the same answer). Unscoped keys: nothing to check."""
        if self.scoped and (
            keys.scoped_campaign_id(session, key_id=self.key_id, campaign_key=campaign_key) is None
        ):
            raise not_found("campaign", campaign_key)


SERVICE = Caller("admin", 0)  # the service itself (demo, rebuilds): sees every campaign
