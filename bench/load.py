"""`python -m bench.load`: the load benchmark, start to finish, on loopback only.

1. A throwaway PostgreSQL cluster (or --database-url's server) gets a fresh database.
2. Fakes of Twilio, Slack and the LLM run here; `bot serve` and the bare endpoint
   run as subprocesses.
3. Turn phase: a few messages one after another with a zero-latency LLM; the
   server's turn time and the database statements and transactions per message
   (pg_stat_statements, minus an idle baseline).
4. The same signed webhooks at --rate for --duration against the bare endpoint, then
   against the bot (plus web chat calls at --web-rate); then each at capacity:
   closed loops of --concurrency senders (a sweep of levels, --capacity-s each, bare and
   bot alternating); each server's best level is its capacity, their ratio the
   throughput ratio (bench/capacity.py).
5. Replies are read from the fakes' records and the database: delivered vs sent,
   duplicates, time to reply.
Everything stops by itself: counts and times are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import results
from bench.capacity import DEFAULT_LEVELS, sweep
from bench.loadgen import LoadResult, percentile, run_closed_loop, run_open_loop
from bench.pgcluster import ThrowawayCluster, free_port
from bench.servers import (
    Fakes,
    bare_server,
    bot_env,
    bot_server,
    running_fakes,
    worker_process,
)
from bench.traffic import Outgoing, Traffic
from bot.db.migrate import apply_migrations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=200, help="signed webhooks per second")
    p.add_argument("--duration", type=float, default=20, help="seconds of open-loop load")
    p.add_argument("--web-rate", type=float, default=5, help="web chat calls per second")
    p.add_argument("--llm-latency", type=float, default=0.0, help="fake LLM latency, seconds")
    p.add_argument("--conversations", type=int, default=200, help="per channel")
    p.add_argument("--turn-messages", type=int, default=60)
    p.add_argument("--capacity-s", type=float, default=8, help="closed-loop seconds (0: skip)")
    p.add_argument("--concurrency", type=int, nargs="+", default=list(DEFAULT_LEVELS),
                   help="closed-loop senders, one capacity level each (default: %(default)s)")
    p.add_argument("--drain-timeout", type=float, default=120)
    p.add_argument("--database-url", help="a server to create the database on (default: a "
                   "throwaway cluster; pg_stat_statements needed for round trips)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of `bot serve` (e.g. WORKER_CONCURRENCY=32)")
    p.add_argument("--separate-worker", action="store_true",
                   help="bot serve --no-worker plus one `bot worker` process")
    p.add_argument("--ingest-only", action="store_true",
                   help="no worker at all: the cost of acknowledging alone (nothing is answered;"
                   " the turn phase and reply checks are skipped)")
    p.add_argument("--out", type=Path, help="write the report as JSON here")
    p.add_argument("--logs-dir", type=Path,
                   help="keep the servers' logs and data here (default: a temporary directory)")
    return p.parse_args(argv)


def webhook_mix(tr: Traffic) -> Callable[[int], Outgoing]:
    """Twilio and Slack webhooks, alternating."""
    return lambda i: tr.whatsapp(i // 2) if i % 2 == 0 else tr.slack(i // 2)


async def wait_drained(url: str, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        counts = await asyncio.to_thread(results.database_counts, url)
        done = counts["unanswered"] == 0 and counts["sent"] >= counts["replies"]
        if done or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


ROUND_TRIPS = "bot_db_round_trips_total"


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 20) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace_s` (never left running)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def scrape(client: httpx.AsyncClient, base: str) -> str:
    return (await client.get(base + "/metrics")).text


async def turn_phase(url: str, bot: str, fakes: Fakes, tr: Traffic, n: int) -> dict[str, Any]:
    """Per-turn cost with a zero-latency LLM, one message at a time."""
    fakes.llm.llm.default.delay_s = 0.0
    results.reset_statements(url)
    async with httpx.AsyncClient(base_url=bot, timeout=10) as client:
        idle_before = await scrape(client, "")
        x0, t0 = results.transactions(url), time.monotonic()
        await asyncio.sleep(5)  # idle baseline: the worker's polling and heartbeats
        idle_calls = sum(results.statement_calls(url).values())
        idle_x, idle_s = results.transactions(url) - x0, time.monotonic() - t0
        before = await scrape(client, "")
        idle_trips = results.counter(before, ROUND_TRIPS) - results.counter(idle_before,
                                                                            ROUND_TRIPS)
        results.reset_statements(url)
        x0, t0 = results.transactions(url), time.monotonic()
        sent = []
        for i in range(n):
            item = tr.whatsapp(i)
            start = time.monotonic()
            response = await client.post(item.path, content=item.body, headers=item.headers)
            sent.append((item.conversation, start, response.status_code))
            await asyncio.sleep(0.1)
        await wait_drained(url, 30)
        elapsed = time.monotonic() - t0
        calls = results.statement_calls(url)
        xacts = results.transactions(url) - x0
        after = await scrape(client, "")
    replies = results.replies_by_conversation(fakes)
    e2e = [(replies[c][0] - s) * 1000 for c, s, code in sent if code == 200 and replies.get(c)]
    assert all(len(replies.get(c, [])) <= 1 for c, _, _ in sent), "one conversation per message"
    baseline = idle_calls / idle_s * elapsed
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:25]
    total = results.histogram(before, "bot_turn_seconds", "stage", "total")
    total_after = results.histogram(after, "bot_turn_seconds", "stage", "total")
    respond = results.histogram(before, "bot_turn_seconds", "stage", "respond")
    respond_after = results.histogram(after, "bot_turn_seconds", "stage", "respond")
    return {
        "messages": n, "replied": len(e2e),
        "statements_per_message": (sum(calls.values()) - baseline) / n,
        "transactions_per_message": (xacts - idle_x / idle_s * elapsed) / n,
        # what the app's own pool sent (procrastinate's connections are not in it)
        "app_round_trips_per_message": (results.counter(after, ROUND_TRIPS)
                                        - results.counter(before, ROUND_TRIPS)
                                        - idle_trips / idle_s * elapsed) / n,
        "idle_statements_per_s": idle_calls / idle_s,
        "turn_p50_ms": results.histogram_quantile(total, total_after, 0.5),
        "turn_p95_ms": results.histogram_quantile(total, total_after, 0.95),
        "respond_p50_ms": results.histogram_quantile(respond, respond_after, 0.5),
        "stage_mean_ms": results.histogram_means(before, after, "bot_turn_seconds", "stage"),
        "e2e_p50_ms": percentile(e2e, 50), "e2e_p95_ms": percentile(e2e, 95),
        "top_statements": [{"calls_per_message": round(c / n, 2), "query": q[:160]}
                           for q, c in top],
    }


async def open_loop(base: str, tr: Traffic, args: argparse.Namespace,
                    with_web: bool) -> tuple[LoadResult, LoadResult | None]:
    hooks = run_open_loop(base, webhook_mix(tr), rate=args.rate, duration_s=args.duration)
    if not with_web or args.web_rate <= 0:
        return await hooks, None
    web = run_open_loop(base, tr.web, rate=args.web_rate, duration_s=args.duration, timeout_s=30)
    hook_result, web_result = await asyncio.gather(hooks, web)
    return hook_result, web_result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                              "nproc": os.cpu_count(), "load_average_start": os.getloadavg()}
    with ExitStack() as stack:
        if args.database_url:
            from testing.database import create_database
            server = args.database_url
            url = create_database(server)
        else:
            cluster = stack.enter_context(ThrowawayCluster())
            url = cluster.create_database("bench_" + secrets.token_hex(3))
        await apply_migrations(url)
        work = (args.logs_dir if args.logs_dir else
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bot-bench-"))))
        work.mkdir(parents=True, exist_ok=True)
        async with running_fakes(args.llm_latency) as fakes:
            # users.info must know the senders: a failed lookup is retried on every message
            fakes.slack.users.update({f"U{n:05d}": f"User {n}"
                                      for n in range(max(args.conversations,
                                                         args.turn_messages))})
            port = free_port()
            extra = dict(kv.split("=", 1) for kv in args.server_env)
            env = bot_env(url, fakes, port, work, extra)
            no_worker = args.separate_worker or args.ingest_only
            bot = bot_server(env, port, work / "bot.log", *(["--no-worker"] if no_worker else []))
            bare = bare_server(work / "bare.log")
            stack.callback(bot.stop)
            stack.callback(bare.stop)
            await asyncio.gather(bot.start(), bare.start())
            if args.separate_worker:
                worker = worker_process(env, work / "worker.log")
                stack.callback(stop_process, worker)
            tr = Traffic(public_base_url=bot.url, conversations=args.conversations)
            print(f"bot {bot.url} (pid {bot.pid}), bare {bare.url}, database {url}", flush=True)
            warm = Traffic(bot.url, conversations=10)
            await run_open_loop(bot.url, webhook_mix(warm), rate=20, duration_s=2)
            if not args.ingest_only:
                await wait_drained(url, 30)
                report["turn"] = await turn_phase(
                    url, bot.url, fakes, Traffic(bot.url, conversations=args.turn_messages),
                    args.turn_messages)
                print("turn phase:", json.dumps({k: v for k, v in report["turn"].items()
                                                 if k != "top_statements"}), flush=True)
            fakes.llm.llm.default.delay_s = args.llm_latency

            bare_result, _ = await open_loop(bare.url, Traffic(bare.url), args, with_web=False)
            report["bare_open_loop"] = bare_result.summary()
            # Each conversation's first message (new contact, conversation and sender-name
            # lookup) at the same rate, measured apart: the open loop below is the steady
            # state of people who have written before.
            first = await run_open_loop(bot.url, webhook_mix(tr), rate=args.rate,
                                        duration_s=2 * args.conversations / args.rate)
            report["first_contact"] = first.summary()
            await wait_drained(url, 0 if args.ingest_only else args.drain_timeout)
            report["load_average_bot_start"] = os.getloadavg()
            first_reply = len(fakes.twilio.sent())
            hook_result, web_result = await open_loop(bot.url, tr, args,
                                                      with_web=not args.ingest_only)
            report["load_average_bot_end"] = os.getloadavg()
            report["bot_open_loop"] = hook_result.summary()
            for channel in ("whatsapp", "slack"):
                report[f"bot_open_loop_{channel}"] = hook_result.summary(channel)
            if web_result is not None:
                report["web_chat"] = web_result.summary()
            drain_s = 0 if args.ingest_only else args.drain_timeout
            report["drained"] = await wait_drained(url, drain_s)
            report["end_to_end"] = results.end_to_end(first.sent + hook_result.sent, fakes)
            report["whatsapp_replies_during_run"] = len(fakes.twilio.sent()) - first_reply

            if args.capacity_s > 0:
                bare_mix, bot_mix = webhook_mix(Traffic(bare.url)), webhook_mix(tr)
                found = await sweep(
                    args.concurrency,
                    lambda n: run_closed_loop(bare.url, bare_mix, concurrency=n,
                                              duration_s=args.capacity_s),
                    lambda n: run_closed_loop(bot.url, bot_mix, concurrency=n,
                                              duration_s=args.capacity_s))
                report |= found.report()
                report["drained_after_capacity"] = await wait_drained(url, drain_s)
            report["load_average_end"] = os.getloadavg()
    return report


def print_report(r: dict[str, Any]) -> None:
    def row(name: str, s: dict[str, float]) -> None:
        print(f"{name:<22} sent {s['sent']:>6.0f}  ack {s['acknowledged']:>6.0f}  "
              f"err {s['errors']:>3.0f}  non2xx {s['non_2xx']:>4.0f}  {s['ack_per_s']:>7.1f}/s  "
              f"p50 {s['p50_ms']:>6.1f}  p95 {s['p95_ms']:>6.1f}  p99 {s['p99_ms']:>6.1f} ms  "
              f"client lag p99 {s['client_lag_p99_ms']:>4.1f} max {s['client_lag_max_ms']:>5.1f}")
    print(f"\nnproc {r['nproc']}; load average at start {r['load_average_start']}, "
          f"during bot load {r['load_average_bot_end']}")
    for key in ("first_contact", "bare_open_loop", "bot_open_loop", "bot_open_loop_whatsapp",
                "bot_open_loop_slack", "web_chat"):
        if key in r:
            row(key, r[key])
    for n in r.get("levels", []):
        row(f"bare, {n} senders", r["bare_by_senders"][n])
        row(f"bot, {n} senders", r["bot_by_senders"][n])
    print("end to end:", json.dumps(r["end_to_end"]))
    print("database:", json.dumps(r["drained"]))
    if "throughput_ratio" in r:
        bare, bot = r["bare_capacity"], r["bot_capacity"]
        equal = ", ".join(f"{n}: {v:.2f}" for n, v in r["ratio_at_equal_senders"].items())
        print(f"capacity: bare {bare['ack_per_s']:.0f}/s ({bare['senders']} senders), bot "
              f"{bot['ack_per_s']:.0f}/s ({bot['senders']} senders); at equal senders {equal}")
        print(f"throughput ratio bot/bare: {r['throughput_ratio']:.2f}")
    if "turn" not in r:
        return
    t = r["turn"]
    print(f"turn (zero-latency LLM): p50 {t['turn_p50_ms']:.1f} ms, p95 {t['turn_p95_ms']:.1f} ms"
          f" (respond p50 {t['respond_p50_ms']:.1f}); e2e p50 {t['e2e_p50_ms']:.1f} ms; "
          f"{t['statements_per_message']:.1f} statements and "
          f"{t['transactions_per_message']:.1f} transactions per message; "
          f"{t['app_round_trips_per_message']:.1f} round trips from the app's pool")
    print("mean per stage (ms):", json.dumps(t["stage_mean_ms"]))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
