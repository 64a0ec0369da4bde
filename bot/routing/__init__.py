"""Which responder answers a classified turn: the router, and the built-in direct handlers."""
