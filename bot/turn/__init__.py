"""The turn: one message (or a burst) answered through a list of stages.

`pipeline.Pipeline` drains a conversation turn by turn; `stages/__init__.py` holds the
list in its order; `unit.TurnUnit` is what a turn writes when it ends.
"""
