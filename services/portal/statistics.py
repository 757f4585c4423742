"""The statistics screen: quantities and amounts of the orders over a date range, per article,
delivery address or orderer, with a chart and the same table as CSV or XLSX."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from aiohttp import web

from services.portal import i18n
from services.portal.charts import Bar, bar_chart
from services.portal.problems import Problems, explain
from services.portal.web import GATEWAY, api, render, signed_in

ROUTES = web.RouteTableDef()
READERS = ("admin", "validator", "partner")
AXES = ("article", "address", "orderer")
CHART_BARS = 10


def _asked(request: web.Request) -> dict[str, str]:
    """The range and axis asked, by default the last 30 days per article."""
    today = date.today()
    asked = {
        "by": request.query.get("by", "article"),
        "since": request.query.get("since", (today - timedelta(days=30)).isoformat()),
        "until": request.query.get("until", today.isoformat()),
    }
    if asked["by"] not in AXES:
        asked["by"] = "article"
    return asked


@ROUTES.get("/{tenant}/statistics")
async def statistics(request: web.Request) -> web.Response:
    signed_in(request, *READERS)
    asked = _asked(request)
    answer = await api(request, "GET", "/ordering/statistics", params=asked)
    rows = answer.body if answer.ok else []
    currency = rows[0]["currency"] if rows else "EUR"
    bars = [Bar(label=str(row["key"] or "—")[:14], value=row["amount_minor"]) for row in rows[:CHART_BARS]]
    chart = bar_chart(
        bars,
        title=i18n.gettext("Amounts excl. VAT"),
        shown=lambda minor: i18n.money(int(minor), currency),
    )
    context = {
        "rows": rows,
        "asked": asked,
        "chart": chart,
        "query": urlencode(asked),
        "problems": explain(answer) if not answer.ok else Problems(),
    }
    return render(request, "statistics.html", context, status=200 if answer.ok else answer.status)


@ROUTES.get("/{tenant}/statistics/export")
async def export(request: web.Request) -> web.StreamResponse:
    session = signed_in(request, *READERS)
    asked = _asked(request) | {"format": "csv" if request.query.get("format") == "csv" else "xlsx"}
    path = "/ordering/statistics/export?" + urlencode(asked)
    got = await request.app[GATEWAY].download(request, path, token=session.access_token)
    if got.status != 200:
        raise web.HTTPNotFound
    return web.Response(body=got.body, headers=dict(got.headers))
