"""Verification: whether cited sentences state a claim, by the LLM's P(yes) and the parse's roles."""
