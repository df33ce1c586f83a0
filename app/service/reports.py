"""The service report (contract section 9)."""
