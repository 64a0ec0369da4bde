"""Training corpus, training and evaluation of the prompt-injection detector's layers.

The detector itself (:mod:`bot.safety.injection`) loads the files these write into
``bot/safety/data``.
"""
