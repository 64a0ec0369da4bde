"""Human handoff: a person takes over a conversation and gives it back."""
