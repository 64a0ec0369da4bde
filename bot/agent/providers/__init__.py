"""LLM providers: each converts the agent's message format to one SDK and back."""
