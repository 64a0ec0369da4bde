"""What a run measured, read back from the fakes, the database and the server's metrics."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import Sent, percentile
from bench.servers import Fakes

PLACEHOLDER = "_thinking…_"


def replies_by_conversation(fakes: Fakes) -> dict[str, list[float]]:
    """When each reply reached a platform's fake, per conversation, in arrival order."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in fakes.twilio.sent():
        out[str(r.field("To"))].append(r.at)
    for c in fakes.slack.calls:
        # a turn shows a placeholder, then the answer replaces it (or is posted)
        if (c.method in ("chat.postMessage", "chat.update") and c.result.get("ok")
                and c.args.get("text") != PLACEHOLDER):
            out[str(c.args.get("channel"))].append(c.at)
    return out


def end_to_end(sent: list[Sent], fakes: Fakes) -> dict[str, Any]:
    """Replies vs acknowledged messages per conversation; time from send to reply."""
    replies = replies_by_conversation(fakes)
    by_conv: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        if s.acknowledged and s.outgoing.channel != "web":
            by_conv[s.outgoing.conversation].append(s)
    times, missing, duplicates = [], 0, 0
    for conv, messages in by_conv.items():
        messages.sort(key=lambda s: s.started)
        arrived = replies.get(conv, [])
        missing += max(0, len(messages) - len(arrived))
        duplicates += max(0, len(arrived) - len(messages))
        times += [(at - m.started) * 1000 for m, at in zip(messages, arrived, strict=False)]
    return {"messages": sum(len(v) for v in by_conv.values()),
            "replies": sum(len(replies.get(c, [])) for c in by_conv),
            "missing": missing, "duplicates": duplicates,
            "e2e_p50_ms": percentile(times, 50), "e2e_p95_ms": percentile(times, 95),
            "e2e_p99_ms": percentile(times, 99)}


def database_counts(url: str) -> dict[str, int]:
    """Inbound, replies and replies per inbound from the messages table (as the owner)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE direction = 'in') AS inbound,"
            " count(*) FILTER (WHERE direction = 'out') AS replies,"
            " count(*) FILTER (WHERE direction = 'out' AND status = 'sent') AS sent,"
            " count(*) FILTER (WHERE direction = 'in' AND status = 'received') AS unanswered"
            " FROM app.messages").fetchone()
        extra = conn.execute(
            "SELECT count(*) FROM (SELECT reply_to FROM app.messages WHERE direction = 'out'"
            " GROUP BY reply_to HAVING count(*) > 1) d").fetchone()
    assert row is not None and extra is not None
    return {"inbound": row[0], "replies": row[1], "sent": row[2], "unanswered": row[3],
            "inbound_with_two_replies": extra[0]}


def statement_calls(url: str) -> dict[str, int]:
    """Calls per statement in this database since the last reset (pg_stat_statements)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT query, sum(calls)::bigint FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
            " GROUP BY query").fetchall()
    return {q: int(n) for q, n in rows}


def transactions(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def reset_statements(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def counter(metrics_text: str, name: str) -> float:
    """The value of an unlabelled counter in a Prometheus scrape (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name == name.removesuffix("_total"):
            return sum(s.value for s in family.samples if s.name == name)
    return 0.0


def histogram(metrics_text: str, name: str, label: str, value: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of one histogram series."""
    buckets = []
    for family in text_string_to_metric_families(metrics_text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get(label) == value:
                buckets.append((float(sample.labels["le"]), float(sample.value)))
    return sorted(buckets)


def histogram_means(before: str, after: str, name: str, label: str) -> dict[str, float]:
    """Mean of each labelled histogram series between two scrapes, in milliseconds."""
    def sums(text: str) -> dict[str, tuple[float, float]]:
        out: dict[str, list[float]] = {}
        for family in text_string_to_metric_families(text):
            if family.name != name:
                continue
            for sample in family.samples:
                key = sample.labels.get(label, "")
                if sample.name.endswith("_sum"):
                    out.setdefault(key, [0.0, 0.0])[0] = sample.value
                elif sample.name.endswith("_count"):
                    out.setdefault(key, [0.0, 0.0])[1] = sample.value
        return {k: (v[0], v[1]) for k, v in out.items()}
    first, last = sums(before), sums(after)
    means = {}
    for key, (total, count) in last.items():
        total0, count0 = first.get(key, (0.0, 0.0))
        if count > count0:
            means[key] = round((total - total0) / (count - count0) * 1000, 2)
    return means


def histogram_quantile(before: list[tuple[float, float]], after: list[tuple[float, float]],
                       q: float) -> float:
    """Like PromQL's histogram_quantile over the difference of two scrapes (linear within
    a bucket), in milliseconds."""
    earlier = dict(before)
    diff = [(le, n - earlier.get(le, 0.0)) for le, n in after]
    total = diff[-1][1] if diff else 0.0
    if total <= 0:
        return float("nan")
    rank, lower, lower_n = q * total, 0.0, 0.0
    for le, n in diff:
        if n >= rank:
            if le == float("inf"):
                return lower * 1000
            width = n - lower_n
            return (lower + (le - lower) * ((rank - lower_n) / width if width else 1)) * 1000
        lower, lower_n = le, n
    return float("nan")
