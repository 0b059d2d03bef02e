"""Eval suites beyond the seed questions: a corpus folder and the questions asked of it."""
