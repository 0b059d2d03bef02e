"""Evidence: the retrieved chunks cut into numbered sentences for the prompt."""
