"""The store: the Chroma collection with its manifest, and the lock that orders its readers and writer."""
