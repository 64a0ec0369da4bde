"""Layered prompt-injection detector for inbound user messages.

Layers, cheapest first:

1. normalisation (:mod:`bot.safety.normalize`) so that look-alike characters,
   zero-width joiners, leetspeak and letter spacing don't hide trigger phrases;
2. pattern rules (:mod:`bot.safety.injection_rules`) for well-known attack shapes in
   several languages, also applied to text decoded from base64 payloads;
3. a hashed word+char n-gram logistic-regression model
   (:mod:`bot.safety.injection_model`) for task-diversion phrasings rules can't list;
4. a logistic regression on MiniLM sentence embeddings
   (:mod:`bot.safety.injection_embedding`), blended with the n-gram score, for
   paraphrases that share no n-grams with known attacks.

Scores are combined with a noisy-OR on a calibrated scale where 0.5 means "this looks
like an injection at the model's operating point". The caller decides what to do
with each action: "harden" typically means answering with a stricter system prompt
and no tools; "refuse" means not passing the message to the LLM at all.

The encoder is by far the dearest layer (~10 ms a message on a slow core), so it runs
only when its output can change the action (the "cascade"): the blend is monotonic in
the embedding logit, and that logit is bounded, so the cheap layers give the lowest
and highest score the message can reach. When both fall in the allow band, or both in
the refuse band, the action is decided without the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.pii import mask_sample
from bot.safety.injection_embedding import (
    Embedder,
    EmbeddingInjectionModel,
    load_default_embedding_model,
)
from bot.safety.injection_encoded import BLOB_MIN_CHARS, decoded_payloads, longest_blob
from bot.safety.injection_model import LinearInjectionModel, load_default_model
from bot.safety.injection_rules import match_rules
from bot.safety.normalize import normalize

if TYPE_CHECKING:  # onnxruntime and the tokenizer load only with the layer
    from bot.intents.embedding_memo import EmbeddingMemo

__all__ = ["Cascade", "InjectionDetector", "InjectionVerdict", "mask_sample"]

Action = Literal["allow", "harden", "refuse"]
# When the encoder may be skipped: "off" never; "exact" only when the unit-sphere bound
# on its logit proves the action; "trained" also when the highest logit seen in training
# does (allow only; refusals still need the exact bound).
Cascade = Literal["off", "exact", "trained"]

# Rules are linear-time but a multi-megabyte paste still costs; messages this long are
# judged on head and tail, where injected instructions sit in practice.
_MAX_RULE_CHARS = 20_000
_ENCODED_INSTRUCTION_WEIGHT = 0.97
_ENCODED_TEXT_WEIGHT = 0.6
_ENCODED_BLOB_WEIGHT = 0.6
# The learned layers alone only ever harden: the blended n-gram+embedding score is sharp
# enough to push ordinary non-English messages with trigger words ("ignorieren Sie meine
# vorherigen Angaben") into the refuse band, and refusing a genuine customer costs far
# more than a stricter prompt. A rule firing as well still lifts the noisy-OR to refuse.
_MODEL_MAX_SCORE = 0.85


@dataclass(frozen=True)
class InjectionVerdict:
    """Outcome of :meth:`InjectionDetector.check`.

    ``score`` is the combined 0..1 score, ``rules`` the names of pattern rules that
    fired (sorted, for stable audit logs), ``action`` the band the score falls in.
    ``bound`` is None when the score is the full detector's. When the encoder was
    skipped it says which bound ``score`` is, always the one nearest the decision's
    threshold: "upper" for an allow (the full score is at most this, below the harden
    threshold), "lower" for a refusal (at least this, above the refuse threshold).
    """

    score: float
    rules: tuple[str, ...]
    action: Literal["allow", "harden", "refuse"]
    bound: Literal["upper", "lower"] | None = None


def _clip(text: str) -> str:
    if len(text) <= _MAX_RULE_CHARS:
        return text
    half = _MAX_RULE_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def _noisy_or(scores: list[float]) -> float:
    rest = 1.0
    for s in scores:
        rest *= 1.0 - s
    return 1.0 - rest


class InjectionDetector:
    """Scores messages for prompt injection; see the module docstring for layers.

    The model is loaded lazily on the first :meth:`check` (or eagerly via
    :meth:`warm_up`) and cached on the instance, so construction is free and each
    detector owns its model; there is no module-level state.

    Thresholds apply to the calibrated combined score: a score at or above
    ``refuse_threshold`` refuses, at or above ``harden_threshold`` hardens.
    ``use_model=False`` runs the rules alone (useful for ablation and for callers
    that cannot spare the ~2 MB the weights take in memory). The MiniLM layer
    (``use_embedding``, on by default; ~15 MB resident for the compact graph's
    onnxruntime session and 2–10 ms per message it runs on) loads lazily too; its
    encoder can be passed in as ``embedder``, and :meth:`close` releases it. ``cascade``
    (see :data:`Cascade`) says when the encoder may be skipped. ``embedding_memo``, shared
    with the intent classifier, lets one encoder pass serve both. ``model_dir`` is where
    the encoder's compact graph is kept once built (the user's cache directory if None).
    """

    def __init__(
        self,
        *,
        harden_threshold: float = 0.5,
        refuse_threshold: float = 0.9,
        use_model: bool = True,
        model: LinearInjectionModel | None = None,
        model_threshold: float | None = None,
        use_embedding: bool = True,
        embedding_model: EmbeddingInjectionModel | None = None,
        embedder: Embedder | None = None,
        cascade: Cascade = "trained",
        embedding_memo: EmbeddingMemo | None = None,
        model_dir: Path | None = None,
    ) -> None:
        if not 0.0 < harden_threshold <= refuse_threshold <= 1.0:
            raise ValueError("need 0 < harden_threshold <= refuse_threshold <= 1")
        self.harden_threshold = harden_threshold
        self.refuse_threshold = refuse_threshold
        self.use_model = use_model
        self._model = model
        self._model_threshold = model_threshold
        self.use_embedding = use_embedding and use_model
        self._embedding_model = embedding_model
        self._embedder = embedder
        self.cascade = cascade
        self._memo = embedding_memo
        self._model_dir = model_dir

    def warm_up(self) -> None:
        """Load the model now instead of on the first message."""
        if self.use_model:
            self._get_model()
        if self.use_embedding:
            self._get_embedding_model()
            self._get_embedder()

    def _get_model(self) -> LinearInjectionModel:
        if self._model is None:
            self._model = load_default_model()
        return self._model

    def close(self) -> None:
        """Drop the embedding encoder (its onnxruntime session: ~12 MB for the compact
        graph, ~100 MB for the export); the Runtime calls this at stop. A later
        :meth:`check` loads it again."""
        self._embedder = None

    def _get_embedding_model(self) -> EmbeddingInjectionModel:
        if self._embedding_model is None:
            self._embedding_model = load_default_embedding_model()
        return self._embedding_model

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            from bot.intents.embedding import MiniLMEmbedder
            from bot.safety.injection_embedding import MAX_TOKENS

            # The encoder graph the layer was trained on: the two graphs differ by up to
            # 4e-4 in cosine, enough to move a borderline score across a threshold.
            compact = self._get_embedding_model().graph == "compact"
            self._embedder = MiniLMEmbedder(
                max_tokens=MAX_TOKENS, inference_threads=1, batch_threads=1,
                compact=compact, memo=self._memo, model_dir=self._model_dir,
            )
        return self._embedder

    def model_score(self, normalized_text: str) -> float:
        """Classifier probability for already-normalised text (0 if disabled): the
        n-gram model's, or its blend with the embedding layer's when that is on."""
        if not self.use_model:
            return 0.0
        prob = self._get_model().score(normalized_text)
        if not self.use_embedding:
            return prob
        return self._get_embedding_model().score(self._get_embedder(), normalized_text, prob)

    def _calibrate(self, prob: float) -> float:
        if self._model_threshold is not None:
            t = self._model_threshold
        elif self.use_embedding:
            t = self._get_embedding_model().threshold
        else:
            t = self._get_model().threshold
        return self.calibrate(prob, t)

    @staticmethod
    def calibrate(prob: float, t: float) -> float:
        """Map probability ``prob`` so that the model threshold ``t`` lands on 0.5.

        This puts rule weights and the caller's thresholds on one scale, whatever
        operating point training picked.
        """
        if prob < t:
            return 0.5 * prob / t
        return 0.5 + 0.5 * (prob - t) / (1.0 - t)

    def check(self, text: str) -> InjectionVerdict:
        """Score one inbound message."""
        norm = normalize(_clip(text))
        names: set[str] = set()
        scores: list[float] = []
        for rule in match_rules(norm):
            names.add(rule.name)
            scores.append(rule.weight)

        for payload in decoded_payloads(norm.raw):
            inner = match_rules(normalize(payload))
            if inner:
                names.add("encoded_instruction")
                names.update(f"encoded:{r.name}" for r in inner)
                scores.append(_ENCODED_INSTRUCTION_WEIGHT)
            else:
                names.add("encoded_text")
                scores.append(_ENCODED_TEXT_WEIGHT)
        if longest_blob(norm.raw) >= BLOB_MIN_CHARS:
            names.add("encoded_blob")
            scores.append(_ENCODED_BLOB_WEIGHT)

        rules = tuple(sorted(names))
        if not self.use_model:
            return self._verdict(scores, rules)
        prob = self._get_model().score(norm.text)
        if not self.use_embedding:
            return self._verdict([*scores, self._learned(prob)], rules)
        emb_model = self._get_embedding_model()
        if self.cascade != "off":
            high = emb_model.blend_range(prob, trained_ceiling=self.cascade == "trained")[1]
            upper = self._verdict([*scores, self._learned(high)], rules, "upper")
            if upper.action == "allow":
                return upper
            # Refusing without the encoder always takes the exact bound: the trained
            # ceiling is evidence enough to answer normally, not to refuse someone.
            low = emb_model.blend_range(prob, trained_ceiling=False)[0]
            lower = self._verdict([*scores, self._learned(low)], rules, "lower")
            if lower.action == "refuse":
                return lower
        blended = emb_model.score(self._get_embedder(), norm.text, prob)
        return self._verdict([*scores, self._learned(blended)], rules)

    def _learned(self, prob: float) -> float:
        """The learned layers' share of the noisy-OR (monotonic in ``prob``)."""
        return min(self._calibrate(prob), _MODEL_MAX_SCORE)

    def _verdict(
        self, scores: list[float], rules: tuple[str, ...],
        bound: Literal["upper", "lower"] | None = None,
    ) -> InjectionVerdict:
        # Every step from the layer scores to the action is monotonic (noisy-OR,
        # rounding, bands), which is what makes the cascade's bounds sound.
        score = round(_noisy_or(scores), 4)
        action: Action = "allow"
        if score >= self.refuse_threshold:
            action = "refuse"
        elif score >= self.harden_threshold:
            action = "harden"
        return InjectionVerdict(score=score, rules=rules, action=action, bound=bound)
