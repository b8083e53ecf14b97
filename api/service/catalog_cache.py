"""What a process may keep of the catalog between requests, and why each is never stale.

- A campaign's parsed settings and its arms, under the campaign's ``revision``: every change
  to its templates (new template, new version, pause/resume/retire) bumps the revision in the
  same transaction, and each request reads the campaign row, so a change committed by any
  process is seen by the next request in every process.
- The renditions of a template version: versions are immutable.
- Segment ids: a segment, once committed, keeps its id. Only ids read from the database are
  kept, never ids a request inserted itself (its transaction may still roll back).

All three are bounded (least recently used entries go first) and safe to share between the
threads of one process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlmodel import Session

from api.errors import not_found
from api.service import campaigns
from api.service.campaigns import CampaignConfig
from templates_store import catalog
from templates_store.catalog import ArmInfo
from templates_store.templating import Rendition

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class Lru(Generic[K, V]):
    """A bounded mapping; the least recently used entry leaves first."""

    size: int
    _values: OrderedDict[K, V] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def get_or(self, key: K, compute: Callable[[], V]) -> V:
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found


@dataclass(frozen=True)
class CampaignView:
    """A campaign as the decision flow needs it, at one revision."""

    config: CampaignConfig
    arms: list[ArmInfo]
    revision: int


@dataclass
class CatalogCache:
    campaigns: Lru[tuple[int, int], CampaignView] = field(default_factory=lambda: Lru(256))
    renditions: Lru[int, list[Rendition]] = field(default_factory=lambda: Lru(4096))
    segments: Lru[tuple[int, str], int] = field(default_factory=lambda: Lru(65_536))
    latest: Lru[str, CampaignView] = field(default_factory=lambda: Lru(256))

    def seen(self, key: str) -> CampaignView | None:
        """The newest view of campaign ``key`` this process has read, without a query: for
        what never changes (its id, segment rules) before a request reads the revision."""
        return self.latest.get(key)

    def campaign(self, session: Session, key: str) -> CampaignView:
        """The campaign ``key`` (404 when unknown), its settings and arms; one query when the
        revision is known."""
        found = catalog.campaign_revision(session, key=key)
        if found is None:
            raise not_found("campaign", key)
        return self._view(session, found)

    def campaign_by_id(self, session: Session, campaign_id: int) -> CampaignView:
        """The same for a campaign known to exist (e.g. a decision's)."""
        found = catalog.campaign_revision_of(session, campaign_id=campaign_id)
        assert found is not None, campaign_id
        return self._view(session, found)

    def _view(self, session: Session, found: catalog.Revision) -> CampaignView:
        def build() -> CampaignView:
            row = campaigns.load(session, found.key)
            arms = catalog.campaign_arms(session, campaign_id=found.id)
            return CampaignView(campaigns.config(row), arms, found.revision)

        # a change committed between the two reads is newer than the revision it is kept
        # under: harmless, as revisions only grow and the next request reads the new one
        view = self.campaigns.get_or((found.id, found.revision), build)
        self.latest.put(found.key, view)
        return view

    def renditions_of(self, session: Session, version_id: int) -> list[Rendition]:
        return self.renditions.get_or(
            version_id, lambda: catalog.renditions_of(session, template_version_id=version_id)
        )

    def segment_ids(
        self, session: Session, *, campaign_id: int, keys: Sequence[str]
    ) -> dict[str, int]:
        """Ids of the segment keys, creating the missing ones (catalog.segment_ids)."""
        found: dict[str, int] = {}
        unknown: list[str] = []
        for key in set(keys):
            sid = self.segments.get((campaign_id, key))
            if sid is None:
                unknown.append(key)
            else:
                found[key] = sid
        if not unknown:
            return found
        existing = catalog.find_segments(session, campaign_id=campaign_id, keys=unknown)
        for key, sid in existing.items():
            self.segments.put((campaign_id, key), sid)
        missing = [k for k in unknown if k not in existing]
        made = catalog.segment_ids(session, campaign_id=campaign_id, keys=missing)
        return found | existing | made
