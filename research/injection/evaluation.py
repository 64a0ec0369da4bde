"""``bot eval injection``: measure the injection detector on labelled data.

Usage::

    python -m research.injection.evaluation --data LABELLED.csv [--benign FILE ...] [--json]
        [--harden-threshold X] [--refuse-threshold Y] [--rules-only] [--model NPZ]
        [--no-embedding] [--embedding-model NPZ] [--cascade off|exact|trained]

``--data`` is a CSV with ``text`` and ``label`` (1 = injection, 0 = benign).
``--benign`` (repeatable) adds benign-only files: a CSV with a ``text`` column, or a
CLINC150-style JSON object of ``[text, label]`` lists. From such JSON only the
``test`` and ``oos_test`` lists are read when present (the held-out splits; the
detector is trained on the others); a JSON without those keys contributes all its
lists. A message counts as flagged when its action is not "allow". With ``--json``
the last stdout line is one JSON object with ``recall``, ``precision``, ``fpr``,
``p50_ms``, ``p99_ms``, ``encoder_skipped`` (the share of messages decided without
the MiniLM encoder) and per-source figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.safety.injection import InjectionDetector
from bot.safety.injection_embedding import EmbeddingInjectionModel
from bot.safety.injection_model import LinearInjectionModel

__all__ = ["Sample", "load_benign", "load_labelled", "main"]

_HELD_OUT_JSON_KEYS = ("test", "oos_test")


@dataclass(frozen=True)
class Sample:
    """One message with its label and the file it came from."""

    text: str
    label: int
    source: str


def _source(path: Path) -> str:
    # Parent folder included: several data sets name their split files "test.csv".
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_labelled(path: Path) -> list[Sample]:
    """Rows of a ``text,label`` CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: need 'text' and 'label' columns")
        return [Sample(r["text"], int(r["label"]), _source(path)) for r in reader]


def load_benign(path: Path) -> list[Sample]:
    """Benign texts of a CSV (``text`` column) or CLINC150-style JSON file."""
    if path.suffix.lower() == ".json":
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of lists")
        keys = [k for k in _HELD_OUT_JSON_KEYS if k in data] or list(data)
        out: list[Sample] = []
        for key in keys:
            for item in data[key]:
                text = item[0] if isinstance(item, list) else item
                out.append(Sample(str(text), 0, f"{_source(path)}:{key}"))
        return out
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise ValueError(f"{path}: need a 'text' column")
        return [Sample(r["text"], 0, _source(path)) for r in reader]


@dataclass
class _Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    skipped: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def _percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def evaluate(detector: InjectionDetector, samples: list[Sample]) -> dict[str, Any]:
    """Run the detector over ``samples`` and compute the summary figures."""
    total = _Tally()
    per_source: dict[str, _Tally] = {}
    for s in samples:
        start = time.perf_counter()
        verdict = detector.check(s.text)
        elapsed = (time.perf_counter() - start) * 1000.0
        flagged = verdict.action != "allow"
        total.latencies_ms.append(elapsed)
        src = per_source.setdefault(s.source, _Tally())
        for t in (total, src):
            # A bound in place of the score means the encoder did not run.
            t.skipped += verdict.bound is not None
            if s.label and flagged:
                t.tp += 1
            elif s.label:
                t.fn += 1
            elif flagged:
                t.fp += 1
            else:
                t.tn += 1
    lat = sorted(total.latencies_ms)
    return {
        "n": len(samples),
        "n_injection": total.tp + total.fn,
        "n_benign": total.fp + total.tn,
        "recall": round(_ratio(total.tp, total.tp + total.fn), 4),
        "precision": round(_ratio(total.tp, total.tp + total.fp), 4),
        "fpr": round(_ratio(total.fp, total.fp + total.tn), 4),
        "p50_ms": round(_percentile(lat, 0.50), 3),
        "p99_ms": round(_percentile(lat, 0.99), 3),
        "encoder_skipped": round(_ratio(total.skipped, len(samples)), 4),
        "sources": {
            name: {
                "n": t.tp + t.fn + t.fp + t.tn,
                "encoder_skipped": round(_ratio(t.skipped, t.tp + t.fn + t.fp + t.tn), 4),
                "recall": round(_ratio(t.tp, t.tp + t.fn), 4) if t.tp + t.fn else None,
                "fpr": round(_ratio(t.fp, t.fp + t.tn), 4) if t.fp + t.tn else None,
            }
            for name, t in sorted(per_source.items())
        },
        "harden_threshold": detector.harden_threshold,
        "refuse_threshold": detector.refuse_threshold,
    }


def _print_human(result: dict[str, Any], load_ms: float) -> None:
    print(
        f"messages: {result['n']} ({result['n_injection']} injection, {result['n_benign']} benign)"
    )
    print(f"recall:    {result['recall']:.2%}")
    print(f"precision: {result['precision']:.2%}")
    print(f"fpr:       {result['fpr']:.2%}")
    print(f"latency:   p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    print(f"decided without the encoder: {result['encoder_skipped']:.2%}")
    print(f"model load: {load_ms:.0f} ms")
    for name, src in result["sources"].items():
        parts = [f"n={src['n']}"]
        if src["recall"] is not None:
            parts.append(f"recall={src['recall']:.2%}")
        if src["fpr"] is not None:
            parts.append(f"fpr={src['fpr']:.2%}")
        print(f"  {name}: {', '.join(parts)}")


def _build_detector(args: argparse.Namespace) -> InjectionDetector:
    kwargs: dict[str, Any] = {
        "use_model": not args.rules_only,
        "use_embedding": not args.no_embedding,
        "cascade": args.cascade,
    }
    if args.model is not None:
        kwargs["model"] = LinearInjectionModel.load(args.model)
    if args.embedding_model is not None:
        kwargs["embedding_model"] = EmbeddingInjectionModel.load(args.embedding_model)
    if args.harden_threshold is not None:
        kwargs["harden_threshold"] = args.harden_threshold
    if args.refuse_threshold is not None:
        kwargs["refuse_threshold"] = args.refuse_threshold
    return InjectionDetector(**kwargs)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``bot eval injection`` / ``python -m research.injection.evaluation``."""
    parser = argparse.ArgumentParser(prog="bot eval injection", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="CSV with text,label")
    parser.add_argument(
        "--benign",
        type=Path,
        action="append",
        default=[],
        help="benign-only CSV (text column) or CLINC150-style JSON; repeatable",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--harden-threshold", type=float, default=None)
    parser.add_argument("--refuse-threshold", type=float, default=None)
    parser.add_argument("--rules-only", action="store_true", help="disable the classifier")
    parser.add_argument("--model", type=Path, default=None,
                        help="model .npz to use instead of the shipped one")  # fmt: skip
    parser.add_argument("--no-embedding", action="store_true",
                        help="rules + n-gram model only (the MiniLM layer off)")  # fmt: skip
    parser.add_argument("--embedding-model", type=Path, default=None,
                        help="embedding-layer .npz instead of the shipped one")  # fmt: skip
    parser.add_argument("--cascade", choices=("off", "exact", "trained"), default="trained",
                        help="when the encoder may be skipped (off = always run it)")  # fmt: skip
    args = parser.parse_args(argv)

    try:
        samples = load_labelled(args.data)
        for path in args.benign:
            samples.extend(load_benign(path))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    try:
        detector = _build_detector(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    detector.warm_up()
    load_ms = (time.perf_counter() - start) * 1000.0

    result = evaluate(detector, samples)
    result["model_load_ms"] = round(load_ms, 1)
    _print_human(result, load_ms)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
