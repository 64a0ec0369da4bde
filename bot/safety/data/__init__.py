"""Package data for bot.safety: the injection detector's model weights."""
