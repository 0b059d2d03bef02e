"""The data model and settings: errors, `Settings`, and the answer with its citations. Imports nothing else of rag."""
