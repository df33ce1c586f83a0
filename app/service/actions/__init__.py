"""The service-quality writes: conversation facts (facts.py), automatic messages and CSAT
(automatic.py), channel service settings (settings.py)."""
