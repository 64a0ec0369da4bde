"""The numbers behind the dashboard's charts, bucketed over a time range.

Response time is measured from an inbound message's `created_at` to its reply's
(the reply row is written when the turn ends, before delivery). Rate-limited
messages are those skipped silently plus those answered with the limit notice
(intent `rate_limited`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.admin.queries import table_exists
from bot.admin.ranges import TimeRange
from bot.admin.schemas import Bar, Chart, Distribution, Series
from bot.db.pool import Conn

_BIN = "date_bin(%(step)s, {col}, %(origin)s)"


def _params(tr: TimeRange) -> dict[str, Any]:
    return {"step": tr.step, "origin": tr.origin, "start": tr.start, "end": tr.end}


def _chart(tr: TimeRange, rows: list[dict[str, Any]], title: str, unit: str,
           names: list[str] | None = None, empty: float | None = 0.0, **extra: Any) -> Chart:
    labels = []
    at = tr.origin
    while at < tr.end:
        labels.append(at)
        at += tr.step
    index = {label: i for i, label in enumerate(labels)}
    order = list(names or [])
    order += sorted({str(r["name"]) for r in rows} - set(order))
    values: dict[str, list[float | None]] = {n: [empty] * len(labels) for n in order}
    for r in rows:
        i = index.get(r["b"])
        if i is not None and r["v"] is not None:
            current = values[str(r["name"])][i] or 0.0
            values[str(r["name"])][i] = current + float(r["v"])
    return Chart(title=title, unit=unit, bucket=tr.bucket, start=tr.start, end=tr.end,
                 labels=labels, series=[Series(name=n, values=v) for n, v in values.items()],
                 **extra)


async def _rows(conn: Conn, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = await conn.execute(sql, params)
    return list(await cur.fetchall())


async def messages_by_channel(conn: Conn, tr: TimeRange) -> Chart:
    rows = await _rows(conn, (
        f"SELECT {_BIN.format(col='created_at')} AS b, channel AS name, count(*) AS v"
        " FROM app.messages WHERE direction = 'in' AND created_at >= %(start)s"
        " AND created_at < %(end)s GROUP BY 1, 2"), _params(tr))
    return _chart(tr, rows, f"Inbound messages per {tr.bucket} by channel", "messages")


_LATENCY = (
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.created_at - i.created_at))"
    " AS p50, percentile_cont(0.95) WITHIN GROUP"
    " (ORDER BY extract(epoch FROM o.created_at - i.created_at)) AS p95, count(*) AS n"
    " FROM app.messages i JOIN app.messages o ON o.reply_to = i.id AND o.direction = 'out'"
    " AND o.reply_seq = 0 WHERE i.direction = 'in' AND i.created_at >= %(start)s"
    " AND i.created_at < %(end)s")


async def response_times(conn: Conn, tr: TimeRange) -> Chart:
    per_bucket = await _rows(conn, f"SELECT {_BIN.format(col='i.created_at')} AS b, "
                                   + _LATENCY + " GROUP BY 1", _params(tr))
    rows = [{"b": r["b"], "name": name, "v": r[name]} for r in per_bucket
            for name in ("p50", "p95")]
    [overall] = await _rows(conn, "SELECT " + _LATENCY, _params(tr))
    # a bucket without replies is "no data" (None), not 0 s
    return _chart(tr, rows, "Response time (inbound → reply)", "seconds", ["p50", "p95"],
                  empty=None, summary={"p50": overall["p50"], "p95": overall["p95"],
                                       "replies": float(overall["n"])})


async def errors(conn: Conn, tr: TimeRange) -> Chart:
    rows = await _rows(conn, (
        f"SELECT {_BIN.format(col='created_at')} AS b, CASE"
        " WHEN status = 'skipped' THEN 'rate limited'"
        " WHEN direction = 'in' THEN 'turn failed' ELSE 'delivery failed' END AS name,"
        " count(*) AS v FROM app.messages WHERE status IN ('failed', 'undelivered', 'skipped')"
        " AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2"
        f" UNION ALL SELECT {_BIN.format(col='created_at')}, 'rate limited', count(*)"
        " FROM app.intent_classifications WHERE intent = 'rate_limited'"
        " AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1"), _params(tr))
    chart = _chart(tr, rows, f"Errors and rate-limited messages per {tr.bucket}", "messages",
                   ["turn failed", "delivery failed", "rate limited"])
    chart.summary = {s.name: sum(v or 0 for v in s.values) for s in chart.series}
    return chart


async def intents(conn: Conn, tr: TimeRange) -> Distribution:
    rows = await _rows(conn, (
        "SELECT intent, count(*) AS n FROM app.intent_classifications"
        " WHERE created_at >= %(start)s AND created_at < %(end)s"
        " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 30"), _params(tr))
    return Distribution(title="Intents", start=tr.start, end=tr.end,
                        items=[Bar(name=r["intent"], count=int(r["n"])) for r in rows])


async def llm_cost_per_day(conn: Conn, tr: TimeRange, cap_usd: float) -> Chart:
    days = TimeRange(tr.start, tr.end, timedelta(days=1))
    rows: list[dict[str, Any]] = []
    if await table_exists(conn, "app.llm_calls"):
        rows = await _rows(conn, (
            f"SELECT {_BIN.format(col='created_at')} AS b, 'cost' AS name,"
            " sum(cost_usd)::float8 AS v FROM app.llm_calls WHERE created_at >= %(origin)s"
            " AND created_at < %(end)s GROUP BY 1"), _params(days))
    chart = _chart(days, rows, "LLM cost per day", "USD", ["cost"],
                   limit=cap_usd if cap_usd > 0 else None)
    chart.summary = {"total": round(sum(v or 0 for v in chart.series[0].values), 6),
                     "cap": cap_usd if cap_usd > 0 else None}
    return chart


_DURATIONS = (
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - created_at))"
    " / 60 AS claim_p50, percentile_cont(0.95) WITHIN GROUP"
    " (ORDER BY extract(epoch FROM claimed_at - created_at)) / 60 AS claim_p95,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))"
    " / 60 AS resolve_p50, percentile_cont(0.95) WITHIN GROUP"
    " (ORDER BY extract(epoch FROM resolved_at - created_at)) / 60 AS resolve_p95,"
    " count(*) AS created, count(claimed_at) AS claimed, count(resolved_at) AS finished"
    " FROM app.handoffs WHERE created_at >= %(start)s AND created_at < %(end)s")
_HANDOFF_SERIES = ["claim_p50", "claim_p95", "resolve_p50", "resolve_p95"]


async def handoff_times(conn: Conn, tr: TimeRange) -> Chart:
    per_bucket = await _rows(conn, f"SELECT {_BIN.format(col='created_at')} AS b, "
                                   + _DURATIONS + " GROUP BY 1", _params(tr))
    rows = [{"b": r["b"], "name": n, "v": r[n]} for r in per_bucket for n in _HANDOFF_SERIES]
    [overall] = await _rows(conn, "SELECT " + _DURATIONS, _params(tr))
    return _chart(tr, rows, "Handoff times (claim and resolve)", "minutes", _HANDOFF_SERIES,
                  empty=None, summary={k: (float(v) if v is not None else None)
                                       for k, v in overall.items()})
