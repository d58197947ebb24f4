"""One public API in front of every service: `/api/<service>/<path>` is passed to that service.

The caller's credentials go along unchanged (each service authorises for itself); hop-by-hop headers do not;
the body limit of the gateway applies; an upstream that cannot be reached is a 502, one that does not answer in
time a 504, each a problem+json naming the service.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from fastapi import APIRouter, FastAPI, Request, Response

from shared.problems import problem
from shared.tracing import propagate

router = APIRouter(tags=["routing"])
# RFC 9110 §7.6.1 connection-specific headers, plus the ones httpx sets from the request it sends.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def open_http_client(app: FastAPI) -> None:
    """One pooled client per gateway process, made in the lifespan (never at import)."""
    settings = app.state.settings
    app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.proxy_timeout_seconds, connect=2.0),
                                       limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                                       follow_redirects=False)


async def close_http_client(app: FastAPI) -> None:
    await app.state.http.aclose()


def end_to_end(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers without the hop-by-hop ones, including those the Connection header names."""
    items = list(pairs)
    named = {token.strip().lower() for key, value in items if key.lower() == "connection" for token in value.split(",")}
    return {key: value for key, value in items if key.lower() not in HOP_BY_HOP and key.lower() not in named}


@router.api_route("/api/{service}/{path:path}", methods=METHODS)
async def proxy(service: str, path: str, request: Request) -> Response:
    urls: dict[str, str] = request.app.state.settings.service_urls
    if service not in urls or service == "gateway":
        known = ", ".join(sorted(name for name in urls if name != "gateway"))
        return problem(404, "Not Found", f"no service {service!r}; routed services: {known}",
                       errors=[{"field": "service", "message": f"one of {known}"}])
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    upstream_path = raw_path[len(f"/api/{service}"):] or "/"
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = f"{urls[service].rstrip('/')}{upstream_path}" + (f"?{query}" if query else "")
    headers = propagate(end_to_end(request.headers.items()))  # the gateway's span: its trace goes on upstream
    headers.pop("accept-encoding", None)  # the body is passed on as received; no re-encoding here
    body = await request.body()  # the gateway's body limit (BodySizeLimit) has already applied
    client: httpx.AsyncClient = request.app.state.http
    try:
        upstream = await client.request(request.method, url, content=body, headers=headers)
    except httpx.TimeoutException:
        return problem(504, "Gateway Timeout", f"service {service} did not answer in time", service=service)
    except httpx.HTTPError as exc:
        return problem(502, "Bad Gateway", f"service {service} is unreachable ({type(exc).__name__})",
                       service=service)
    answer = end_to_end(upstream.headers.multi_items())
    answer.pop("content-encoding", None)
    return Response(content=upstream.content, status_code=upstream.status_code, headers=answer)
