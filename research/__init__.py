"""Offline research beside the bot (not installed): training, corpora, evaluation, plots.

Run from a source checkout; ``bot eval intents`` and ``bot eval injection`` are thin
commands over :mod:`research.intents.evaluation` and :mod:`research.injection.evaluation`.
"""
