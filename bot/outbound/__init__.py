"""Outbound: stored replies delivered through their channel, once each, in order; and the
turn's progress events to whoever shows them."""
