"""The tool-calling agent: the responder behind routes that need the LLM.

Import from the submodules; this package imports nothing heavy on its own so that
settings and routing can use it without loading any SDK.
"""
