"""Local intent classification: training, prediction and evaluation."""

from bot.intents.classifier import IntentClassifier, Prediction, is_out_of_scope
from bot.intents.config import DEFAULT_OOS_THRESHOLD, ClassifierConfig
from bot.intents.datasets import OOS_LABEL

__all__ = [
    "DEFAULT_OOS_THRESHOLD",
    "OOS_LABEL",
    "ClassifierConfig",
    "IntentClassifier",
    "Prediction",
    "is_out_of_scope",
]
