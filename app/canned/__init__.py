"""快捷回复 (canned replies), shared or personal."""
