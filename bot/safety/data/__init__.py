"""Package data for bot.safety: model weights and hand-written training examples."""
