"""The web console's first page: every service's readiness, asked in parallel, and where to go next."""

from __future__ import annotations

import asyncio
import html

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["console"])
# Log in (OAuth2 password flow) and show a subject's aggregated profile; the token stays in the page only.
_PROFILE_FORM = """<h2>Profile</h2><form id="login">user <input name="username" required> password
<input name="password" type="password" required> <button>log in</button></form>
<form id="profile">subject id <input name="id" required> <button>show profile</button></form><pre id="out"></pre>
<script>
let token = null; const out = document.getElementById("out");
document.getElementById("login").onsubmit = async (e) => {
  e.preventDefault(); const form = new FormData(e.target); form.append("grant_type", "password");
  const r = await fetch("/token", {method: "POST", body: new URLSearchParams(form)}); const body = await r.json();
  token = body.access_token || null; out.textContent = token ? "logged in" : JSON.stringify(body, null, 2);
  if (token) { const me = await fetch("/auth/me", {headers: {Authorization: "Bearer " + token}});
    document.querySelector("#profile [name=id]").value = (await me.json()).subject; }
};
document.getElementById("profile").onsubmit = async (e) => {
  e.preventDefault(); const id = encodeURIComponent(new FormData(e.target).get("id"));
  const r = await fetch("/subjects/" + id + "/profile", {headers: token ? {Authorization: "Bearer " + token} : {}});
  out.textContent = JSON.stringify(await r.json(), null, 2);
};
</script>"""


async def _status(client: httpx.AsyncClient, name: str, url: str) -> tuple[str, str, str]:
    try:
        response = await client.get(f"{url}/readyz")
        body = response.json()
        state = body.get("status", str(response.status_code))
        detail = ", ".join(f"{k}: {v}" for k, v in body.get("checks", {}).items())
    except (httpx.HTTPError, ValueError) as exc:
        state, detail = "unreachable", type(exc).__name__
    return name, state, f'<a href="{html.escape(url)}/docs">{html.escape(url)}</a> — {html.escape(detail)}'


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console(request: Request) -> HTMLResponse:
    urls: dict[str, str] = request.app.state.settings.service_urls
    async with httpx.AsyncClient(timeout=2.0) as client:
        rows = await asyncio.gather(*(_status(client, name, url) for name, url in urls.items()))
    table = "\n".join(f"<tr><td>{html.escape(name)}</td><td class='{'ok' if state == 'ready' else 'bad'}'>"
                      f"{html.escape(state)}</td><td>{link}</td></tr>" for name, state, link in rows)
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Sizhong 四众</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}td{{padding:.3rem .8rem}}
.ok{{color:#176f2c}}.bad{{color:#b00020}}table{{border-collapse:collapse}}tr:nth-child(odd){{background:#f4f4f4}}</style>
</head><body><h1>Sizhong 四众 console</h1>
<p>众创 maker-spaces · 众包 crowdsourcing · 众扶 crowd-support · 众筹 crowdfunding, with the honesty
red/black list and a verifiable audit stream.</p>
<h2>Services</h2><table>{table}</table>
<h2>Start here</h2><ul><li><a href="/docs">Gateway API</a>: sign up (<code>POST /auth/signup</code>), log in
(<code>POST /token</code>), verify yourself (<code>POST /people/me/verification</code>), register an organisation
(<code>POST /organisations</code>); every service behind <code>/api/&lt;service&gt;/…</code>.</li></ul>
{_PROFILE_FORM}
</body></html>"""
    return HTMLResponse(page)
