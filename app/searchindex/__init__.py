"""The message search index: the terms (terms.py) and the index both backends keep (index.py)."""
