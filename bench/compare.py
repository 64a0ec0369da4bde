"""`python -m bench.compare`: two (or more) versions of the bot measured in the same run.

    python -m bench.compare --variant before=../before --variant after=.

Each variant is a source tree (another checkout, e.g. `git worktree add ../before <ref>`)
whose `bot serve` runs as a subprocess against its own database on one throwaway
PostgreSQL cluster, with the same loopback fakes. What a user feels is measured twice:

1. ingestion capacity: closed loops of signed Twilio and Slack webhooks against each
   variant's `bot serve --no-worker` (storing and acknowledging, nothing answered); the
   sweep of sender levels alternates variants at every level and is repeated `--rounds`
   times with the order of variants reversed each round, so the machine's drift falls on
   all alike; a variant's capacity is its best level's median over rounds, and each
   round's peak is also compared with the first variant's in the same round; beside it,
   the web process's CPU time per acknowledged webhook (less disturbed by what else the
   machine does than a rate is);
2. turn p50: `--turn-messages` WhatsApp messages one at a time against each variant's
   `bot serve` (worker in the process, zero-latency LLM), variants alternating, rounds
   as above; the server's own turn histogram gives the p50.
Loopback only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.load import turn_phase, wait_drained, webhook_mix
from bench.loadgen import run_closed_loop, run_open_loop
from bench.pgcluster import ThrowawayCluster, free_port
from bench.servers import Process, bot_env, bot_server, running_fakes
from bench.traffic import Traffic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.compare",
                                description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--variant", action="append", required=True, metavar="NAME=PATH",
                   help="a source tree to measure (give two or more)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--capacity-s", type=float, default=6.0, help="0: no capacity phase")
    p.add_argument("--turn-messages", type=int, default=40, help="0: no turn phase")
    p.add_argument("--conversations", type=int, default=200)
    p.add_argument("--out", type=Path, help="write the report as JSON here")
    return p.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrate(root: Path, url: str) -> None:
    """The variant's own migrations, by its own `bot migrate`."""
    env = dict(os.environ, PYTHONPATH=str(root), DATABASE_URL=url)
    subprocess.run([sys.executable, "-m", "bot.cli", "migrate"], cwd=root, env=env,
                   check=True, capture_output=True, timeout=300)


def variants_of(args: argparse.Namespace) -> dict[str, Path]:
    return {name: Path(path).resolve() for name, path in (v.split("=", 1) for v in args.variant)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    variants = variants_of(args)
    capacity: dict[str, dict[int, list[float]]] = {n: {} for n in variants}
    cpu_us: dict[str, dict[int, list[float]]] = {n: {} for n in variants}
    turn_p50: dict[str, list[float]] = {n: [] for n in variants}
    trips: dict[str, list[float]] = {n: [] for n in variants}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bot-compare-") as tmp:
        cluster = stack.enter_context(ThrowawayCluster())
        work = Path(tmp)
        async with running_fakes() as fakes:
            fakes.slack.users.update({f"U{n:05d}": f"User {n}"
                                      for n in range(max(args.conversations,
                                                         args.turn_messages))})
            urls, ingest = {}, {}
            for name, root in variants.items():
                # the turn phase gets a database of its own: the capacity phase leaves
                # thousands of messages that no worker answered
                urls[name] = cluster.create_database(f"cmp_{name}_turn")
                await asyncio.to_thread(migrate, root, urls[name])
                if args.capacity_s <= 0:
                    continue
                capacity_url = cluster.create_database(f"cmp_{name}")
                await asyncio.to_thread(migrate, root, capacity_url)
                port = free_port()
                env = bot_env(capacity_url, fakes, port, work / name, {}, root=root)
                ingest[name] = bot_server(env, port, work / f"{name}-ingest.log",
                                          "--no-worker", root=root)
                stack.callback(ingest[name].stop)
                await ingest[name].start()
                warm = Traffic(ingest[name].url, conversations=10)
                await run_open_loop(ingest[name].url, webhook_mix(warm), rate=20, duration_s=2)
            for r in range(args.rounds if ingest else 0):
                order = list(variants)[::-1 if r % 2 else 1]
                for senders in args.concurrency:
                    for name in order:
                        mix = webhook_mix(Traffic(ingest[name].url,
                                                  conversations=args.conversations))
                        cpu_before = cpu_seconds(ingest[name].pid)
                        got = await run_closed_loop(ingest[name].url, mix, concurrency=senders,
                                                    duration_s=args.capacity_s)
                        done = got.summary()
                        capacity[name].setdefault(senders, []).append(done["ack_per_s"])
                        used = cpu_seconds(ingest[name].pid) - cpu_before
                        acked = done["acknowledged"] or 1
                        cpu_us[name].setdefault(senders, []).append(used / acked * 1e6)
                        print(f"round {r} {name} {senders} senders: "
                              f"{capacity[name][senders][-1]:.0f}/s, web process "
                              f"{cpu_us[name][senders][-1]:.0f} µs CPU per webhook", flush=True)
            for server in ingest.values():
                server.stop()
            for r in range(args.rounds if args.turn_messages > 0 else 0):
                order = list(variants)[::-1 if r % 2 else 1]
                for name in order:
                    turn = await one_turn_phase(name, variants[name], urls[name], fakes,
                                                work, args.turn_messages)
                    turn_p50[name].append(turn["turn_p50_ms"])
                    trips[name].append(turn["app_round_trips_per_message"])
                    print(f"round {r} {name} turn p50 {turn['turn_p50_ms']:.1f} ms, "
                          f"{turn['app_round_trips_per_message']:.1f} round trips",
                          flush=True)
    report = summarise(capacity, turn_p50, trips)
    for name, levels in cpu_us.items():
        report["variants"][name]["web_cpu_us_per_webhook"] = {
            n: statistics.median(v) for n, v in levels.items()}
    return report


async def one_turn_phase(name: str, root: Path, url: str, fakes: Any, work: Path,
                         messages: int) -> dict[str, Any]:
    await wait_drained(url, 60)
    port = free_port()
    env = bot_env(url, fakes, port, work / name, {}, root=root)
    server: Process = bot_server(env, port, work / f"{name}-turn.log", root=root)
    try:
        await server.start()
        await wait_drained(url, 60)
        return await turn_phase(url, server.url, fakes, Traffic(server.url,
                                                                conversations=messages),
                                messages)
    finally:
        server.stop()


def summarise(capacity: dict[str, dict[int, list[float]]], turn_p50: dict[str, list[float]],
              trips: dict[str, list[float]]) -> dict[str, Any]:
    report: dict[str, Any] = {"nproc": os.cpu_count(), "variants": {}}
    first = next(iter(capacity))
    rounds = len(next(iter(capacity[first].values()), []))

    def peak(name: str, r: int) -> float:
        """A variant's capacity in one round: its best level then."""
        return max(v[r] for v in capacity[name].values())
    for name, levels in capacity.items():
        medians = {n: statistics.median(v) for n, v in levels.items()}
        best = max(medians, key=lambda n: medians[n]) if medians else 0
        report["variants"][name] = {
            "capacity_per_s": medians.get(best, float("nan")), "capacity_senders": best,
            "capacity_by_senders": levels,
            # paired by round (the same minutes of the machine): this variant's peak over
            # the first variant's, the median of the rounds
            "capacity_vs_first": statistics.median(
                [peak(name, r) / peak(first, r) for r in range(rounds)]) if rounds else None,
            "turn_p50_ms": statistics.median(turn_p50[name]) if turn_p50[name] else None,
            "turn_p50_runs_ms": turn_p50[name],
            "round_trips_per_message": (statistics.median(trips[name]) if trips[name]
                                        else None)}
    return report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(measure(args))
    names = list(report["variants"])
    first = report["variants"][names[0]]
    for name in names:
        v = report["variants"][name]
        paired = v["capacity_vs_first"]
        line = (f"{name:<16} capacity {v['capacity_per_s']:7.0f}/s ({v['capacity_senders']} "
                f"senders; paired by round {paired or float('nan'):.2f}x {names[0]})")
        if v["turn_p50_ms"] is not None:
            line += (f"; turn p50 {v['turn_p50_ms']:5.1f} ms "
                     f"({v['turn_p50_ms'] / first['turn_p50_ms']:.2f}x); "
                     f"{v['round_trips_per_message']:.1f} round trips per message")
        print(line)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
