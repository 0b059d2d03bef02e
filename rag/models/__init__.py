"""The models and what feeds them: the sentence encoder, the LLM backends, the bundled weights and the prompt templates."""
