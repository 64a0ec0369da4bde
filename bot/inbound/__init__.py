"""Inbound: a message stored (once) before it is acknowledged, and its conversation queued
for a drain, one at a time per conversation."""
