"""Tunables of the intent classifier."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

#: Recommended confidence below which a caller should treat a message as out of scope.
#: Chosen on CLINC150 train + val with all 200 out-of-scope queries held out in turn, never
#: the test split, for the classifier as configured by default, its tuned last layer
#: included (docs/benchmarks-intents.md, the last-layer fine-tuning and the cross-validated
#: out-of-scope set; the untuned encoder's was 0.48); it relies on the temperature
#: calibration that every trained classifier applies.
DEFAULT_OOS_THRESHOLD = 0.56

#: Label used for out-of-scope examples (the CLINC150 convention).
OOS_LABEL = "oos"

Backend = Literal["minilm+tfidf", "tfidf"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that changes what :class:`~bot.intents.classifier.IntentClassifier` learns.

    The defaults are what the bot ships and what ``bot eval intents`` measures.
    """

    #: ``minilm+tfidf`` adds MiniLM sentence embeddings and a nearest-neighbour vote to the
    #: TF-IDF features; ``tfidf`` needs no model files (useful where the model is absent).
    backend: Backend = "minilm+tfidf"
    #: Scale of the (unit-norm) sentence embedding next to the (unit-norm) TF-IDF vectors;
    #: above 1 lets the semantic features dominate the lexical ones.
    embedding_weight: float = 2.0
    #: Weight of the per-intent best cosine similarity added to the linear scores.
    knn_weight: float = 2.0
    #: Weight of the encoder's layer 5 (mean-pooled, unit-normalised) added to the last
    #: layer's before the embedding is normalised again; 0 is the plain sentence embedding.
    #: Read from the same forward pass. 0.5 won on the holdout and CLINC150 val but lost
    #: CLINC150 test OOS recall (84.1% < 85%), and its out-of-scope curve lay under the
    #: plain embedding's on 200 held-out train + val queries, so it is off
    #: (docs/benchmarks-intents.md: features from the same forward pass, and the
    #: cross-validated out-of-scope set).
    layer_mix: float = 0.0
    #: Inverse regularisation of the linear SVM.
    svm_c: float = 1.0
    #: Few-shot regime: when the intents have at most this many examples (median over the
    #: intents, out-of-scope labels excluded), the three ``few_shot_*`` terms below are
    #: added. They help with ten examples per intent and hurt with a hundred.
    few_shot_max_examples: int = 20
    #: Few-shot: each intent's name, humanised ("card_arrival" -> "card arrival"), is one
    #: more training example, and the cosine similarity between a message and that name
    #: is added to the scores with this weight (0 keeps the name out entirely).
    few_shot_label_weight: float = 1.0
    #: Few-shot: weight of the log-probabilities of a logistic regression on the embeddings.
    few_shot_lr_weight: float = 0.5
    #: Few-shot: inverse regularisation of that logistic regression.
    few_shot_lr_c: float = 10.0
    #: Passes over the examples when fine-tuning the encoder's last layer on them
    #: (bot/intents/finetune.py), in either regime despite the name; 0 keeps the shipped
    #: encoder everywhere.
    few_shot_finetune_epochs: int = 2
    #: AdamW learning rate of that fine-tuning (either regime).
    few_shot_finetune_lr: float = 2e-4
    #: Outside the few-shot regime: fine-tune the last layer the same way on up to this many
    #: examples of each in-scope intent, with the out-of-scope examples as every intent's
    #: negatives (0: the shipped encoder; docs/benchmarks-intents.md, last-layer fine-tuning).
    finetune_examples_per_intent: int = 10
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    #: Character n-grams seen in fewer training texts are dropped (keeps the model small).
    char_min_df: int = 2
    #: Share of the examples held out (stratified) to fit the softmax temperature.
    calibration_fraction: float = 0.2
    #: Token limit of the encoder; intents are decided early in a message.
    max_tokens: int = 64
    #: Characters of a message that are looked at. The encoder stops at ``max_tokens``
    #: anyway; the cap keeps the character n-grams of a pasted document from blowing
    #: the latency budget.
    max_chars: int = 1000
    #: Threads used to embed one message; 1 keeps latency flat on a busy host.
    inference_threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in ("minilm+tfidf", "tfidf"):
            raise ValueError(f"unknown backend {self.backend!r}")
        if not 0.0 < self.calibration_fraction < 0.5:
            raise ValueError("calibration_fraction must be in (0, 0.5)")
        if self.svm_c <= 0 or self.few_shot_lr_c <= 0:
            raise ValueError("svm_c and few_shot_lr_c must be positive")
        weights = (self.embedding_weight, self.knn_weight, self.few_shot_label_weight,
                   self.few_shot_lr_weight, self.layer_mix)
        if (self.few_shot_finetune_epochs < 0 or self.few_shot_finetune_lr <= 0
                or self.finetune_examples_per_intent < 0):
            raise ValueError("fine-tuning epochs and examples must be >= 0, its lr positive")
        if min(weights) < 0 or self.few_shot_max_examples < 0:
            raise ValueError("weights and few_shot_max_examples must be non-negative")
        if self.max_tokens < 8 or self.max_chars < 16 or self.inference_threads < 1:
            raise ValueError("need max_tokens >= 8, max_chars >= 16 and inference_threads >= 1")

    def to_json(self) -> str:
        """Stable serialisation, used in the cache key and stored next to a cached model."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)
