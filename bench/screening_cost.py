"""CPU per unique message of the turn's screening (injection check, then intent classifier)
with the shared EmbeddingMemo, for a frozen and a fine-tuned classifier side by side.

    python bench/screening_cost.py [--probe CSV] [--count N] [--bot PATH]

Messages are classified one at a time, alternating the two set-ups; each is new to both
memos, as in real traffic (the load benchmark repeats four texts, so its memo always hits).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from bot.definition import load_definition
from bot.intents import ClassifierConfig, IntentClassifier
from bot.intents.embedding_memo import EmbeddingMemo
from bot.safety.injection import InjectionDetector


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--probe", type=Path,
                   default=Path("../shared/datasets/banking77/test.csv"))
    p.add_argument("--count", type=int, default=600)
    p.add_argument("--bot", type=Path, default=Path("bots/studio/bot.yaml"))
    args = p.parse_args()
    texts, labels = load_definition(args.bot).training_data()
    with args.probe.open(encoding="utf-8") as handle:
        rows = [r["text"] for r in csv.DictReader(handle)]
    probe = rows[:: max(1, len(rows) // args.count)][: args.count]
    setups = {}
    for name, epochs in (("frozen", 0), ("tuned", 2)):
        memo = EmbeddingMemo()
        detector = InjectionDetector(embedding_memo=memo)
        detector.warm_up()
        config = ClassifierConfig(few_shot_finetune_epochs=epochs)
        classifier = IntentClassifier.train(texts, labels, config=config, memo=memo)
        setups[name] = (detector, classifier, memo)
    cpu: dict[str, list[float]] = {name: [] for name in setups}
    for i, text in enumerate(probe):
        for name in ("frozen", "tuned") if i % 2 else ("tuned", "frozen"):
            detector, classifier, _ = setups[name]
            start = time.thread_time()
            detector.check(text)
            classifier.predict(text)
            cpu[name].append(1000 * (time.thread_time() - start))
    for name, ms in cpu.items():
        memo = setups[name][2]
        print(f"{name}: CPU ms p50 {np.percentile(ms, 50):.2f} mean {np.mean(ms):.2f} "
              f"p99 {np.percentile(ms, 99):.2f}; memo hits {memo.hits}, misses {memo.misses}")


if __name__ == "__main__":
    main()
