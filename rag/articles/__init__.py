"""Reading articles: file formats and metadata, sentences and chunks, and duplicate detection."""
