"""Answering: the prompt, the draft's claims checked against their citations, and every refusal."""
