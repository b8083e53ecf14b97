"""The dashboard page, and plotly.js served locally (no CDN)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import admit
from api.deps import ContextDep, SessionDep
from api.schemas import NO_NUL
from api.service import dashboard

router = APIRouter(tags=["dashboard"])
CampaignKey = Annotated[str, Path(max_length=100, pattern=NO_NUL, description="the campaign's key")]

# Shown to a browser that has no key yet: it reads the key from the URL fragment (never sent to
# the server, so never logged) or asks for it, then loads the page with an Authorization header.
SHELL = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>dunning-bandit dashboard</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:40rem}input{width:100%;padding:.4rem}</style></head>
<body><h1>dunning-bandit</h1><p id="state">Loading the dashboard…</p>
<form id="login" hidden><p>Paste an API key (manager, analyst or admin):</p><input id="key" type="password" autocomplete="off"><button>Open</button></form>
<script>
async function open_with(key) {
  const r = await fetch(location.pathname, {headers: {Authorization: "Bearer " + key, Accept: "text/html"}});
  if (!r.ok) { document.getElementById("state").textContent = "The key was refused (" + r.status + ")."; ask(); return; }
  sessionStorage.setItem("dunning-key", key);
  const page = await r.text();
  document.open(); document.write(page); document.close();
}
function ask() { const f = document.getElementById("login"); f.hidden = false;
  f.onsubmit = (e) => { e.preventDefault(); open_with(document.getElementById("key").value.trim()); }; }
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) { history.replaceState(null, "", location.pathname); }
const key = fromHash || sessionStorage.getItem("dunning-key");
if (key) { open_with(key); } else { document.getElementById("state").textContent = ""; ask(); }
</script></body></html>"""


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs()).encode("utf-8")


@router.get("/static/plotly.min.js", include_in_schema=False)
def plotly_script() -> Response:
    return Response(
        plotly_js(),
        media_type="application/javascript",
        headers={"cache-control": "public, max-age=86400"},
    )


PAGE = (
    "the dashboard page (with a key); or, to a browser (Accept: text/html) without an "
    "Authorization header, the key prompt: one fixed page, the same for every campaign name, "
    "so it tells nothing about which campaigns exist"
)


@router.get(
    "/v1/campaigns/{campaign}/dashboard",
    operation_id="get_dashboard",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": PAGE}
    },
)
def campaign_dashboard(
    campaign: CampaignKey, request: Request, session: SessionDep, ctx: ContextDep
) -> HTMLResponse:
    """The campaign's dashboard (analyst, manager). Without a key, a browser gets a page that
    asks for one (or reads it from the URL fragment #key=…) and then loads the dashboard; that
    page is the same for any campaign name. Errors (401, 403, 404) are JSON."""
    if "authorization" not in request.headers and "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(SHELL)
    admit(request, session, "analyst", "manager")
    return HTMLResponse(dashboard.build(session, ctx, campaign))
