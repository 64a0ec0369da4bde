"""``bot eval intents``: train the bot's intent classifier on one file, measure it on another.

Example::

    python -m research.intents.evaluation --train banking77/train.csv --test banking77/test.csv
    python -m research.intents.evaluation --train clinc150/data_full.json \\
        --test clinc150/data_full.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.intents.classifier import IntentClassifier, Prediction
from bot.intents.config import DEFAULT_OOS_THRESHOLD, ClassifierConfig
from bot.intents.training import is_few_shot
from research.intents.datasets import (
    OOS_LABEL,
    DatasetFormatError,
    LabelledTexts,
    is_clinc_json,
    load_examples,
    sample_shots,
)
from research.intents.metrics import Report, compute_report, format_report


class ProgressBar:
    """A minimal stderr progress bar: redraws in place on a terminal, prints every 10%
    otherwise so that logs stay short."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label, self._stream = label, stream
        self._tty = stream.isatty()
        self._last_decile = -1
        self._start = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        elapsed = time.perf_counter() - self._start
        line = f"{self._label}: {done}/{total} ({frac:4.0%}) {elapsed:5.1f}s"
        if self._tty:
            bar = "#" * int(frac * 30)
            end = "\n" if done >= total else ""
            self._stream.write(f"\r{self._label}: [{bar:<30}] {done}/{total} {elapsed:5.1f}s{end}")
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            self._stream.write(line + "\n")
        self._stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot eval intents",
        description="Train the bot's intent classifier and report accuracy and latency.",
    )
    p.add_argument(
        "--train",
        type=Path,
        required=True,
        help="CSV (text + category/label columns) or CLINC150-style JSON",
    )
    p.add_argument(
        "--test",
        type=Path,
        required=True,
        help="CSV or CLINC150-style JSON (may be the same JSON file as --train)",
    )
    p.add_argument(
        "--test-split",
        choices=("test", "val"),
        default="test",
        help="split of a JSON --test to evaluate on (use val while tuning)",
    )
    p.add_argument("--shots", type=int, default=None, help="train on K examples per intent")
    p.add_argument("--seed", type=int, default=0, help="seed for --shots sampling")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="confidence below which a prediction counts as out of scope "
        f"(default {DEFAULT_OOS_THRESHOLD} when the test set has 'oos' labels)",
    )
    p.add_argument("--json", action="store_true", help="end stdout with one JSON object")
    p.add_argument("--plot", type=Path, default=None, help="write a confusion-matrix PNG")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="reuse/keep trained models here (training time is then load time)",
    )
    p.add_argument(
        "--backend",
        choices=("minilm+tfidf", "tfidf"),
        default=None,
        help="override the classifier backend (default: the bot's)",
    )
    return p


def _load(path: Path, split: str) -> LabelledTexts:
    data = load_examples(path, split)
    if len(data) == 0:
        raise DatasetFormatError(f"{path}: no examples in split {split!r}")
    return data


def _classify_one_by_one(
    clf: IntentClassifier, texts: Sequence[str], stream: TextIO
) -> tuple[list[list[Prediction]], list[float], list[float]]:
    """Predict each message alone, as the bot does, timing every call.

    Returns wall-clock and CPU seconds per call: on a shared host the wall clock also
    counts time spent waiting for the core, the CPU time does not.
    """
    bar = ProgressBar("classifying", stream)
    preds: list[list[Prediction]] = []
    times: list[float] = []
    cpu: list[float] = []
    step = max(1, len(texts) // 100)
    for i, text in enumerate(texts):
        c0 = time.process_time()
        t0 = time.perf_counter()
        preds.append(clf.predict(text, k=1))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if (i + 1) % step == 0 or i + 1 == len(texts):
            bar(i + 1, len(texts))
    return preds, times, cpu


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> Report:
    """Do the evaluation described by parsed ``args``; the report is also printed."""
    train = _load(args.train, "train")
    test = _load(args.test, args.test_split if is_clinc_json(args.test) else "test")
    if args.shots is not None:
        train = sample_shots(train.texts, train.labels, args.shots, args.seed)
    config = ClassifierConfig() if args.backend is None else ClassifierConfig(backend=args.backend)
    err.write(f"training on {len(train)} examples, {len(set(train.labels))} labels\n")
    if config.backend != "tfidf" and config.few_shot_finetune_epochs > 0 and (
            is_few_shot(train.labels, config) or config.finetune_examples_per_intent > 0):
        # no progress bar for this part: say why the first one takes a while
        err.write("fine-tuning the encoder's last layer on the examples first\n")
    c0 = time.process_time()
    t0 = time.perf_counter()
    clf = IntentClassifier.train(
        train.texts,
        train.labels,
        config=config,
        cache_dir=args.cache_dir,
        progress=ProgressBar("embedding", err),
    )
    train_seconds = time.perf_counter() - t0
    train_cpu_seconds = time.process_time() - c0
    clf.predict(test.texts[0])  # first call allocates onnxruntime buffers; not a latency sample
    preds, times, cpu = _classify_one_by_one(clf, test.texts, err)
    has_oos = OOS_LABEL in set(test.labels)
    threshold = args.threshold
    if threshold is None and has_oos:
        threshold = DEFAULT_OOS_THRESHOLD
    report = compute_report(
        test.labels,
        [p[0] for p in preds],
        times,
        cpu,
        threshold=threshold,
        train_seconds=train_seconds,
        train_cpu_seconds=train_cpu_seconds,
        n_train=len(train),
        from_cache=clf.loaded_from_cache,
        temperature=clf.temperature,
        config=json.loads(config.to_json()),
    )
    out.write(format_report(report))
    if args.plot is not None:
        _plot(args.plot, report, out, err)
    if args.json:
        out.write(json.dumps(report.as_json()) + "\n")
    return report


def _plot(path: Path, report: Report, out: TextIO, err: TextIO) -> None:
    try:
        from research.intents.plot import save_confusion_matrix
    except ImportError:
        err.write("--plot needs matplotlib: pip install 'messaging-bot[eval]'; no plot written\n")
        return
    save_confusion_matrix(path, report.y_true, report.y_pred)
    out.write(f"confusion matrix written to {path}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bot eval intents``; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.shots is not None and args.shots < 1:
        sys.stderr.write("--shots must be at least 1\n")
        return 2
    try:
        run(args, sys.stdout, sys.stderr)
    except (OSError, DatasetFormatError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
