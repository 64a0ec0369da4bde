"""Local intent classification: training and prediction (evaluation: research.intents)."""

from bot.intents.classifier import IntentClassifier, Prediction, is_out_of_scope
from bot.intents.config import DEFAULT_OOS_THRESHOLD, OOS_LABEL, ClassifierConfig

__all__ = [
    "DEFAULT_OOS_THRESHOLD",
    "OOS_LABEL",
    "ClassifierConfig",
    "IntentClassifier",
    "Prediction",
    "is_out_of_scope",
]
