"""The channel simulator: customers who write through the real webhook paths (demo, load)."""
