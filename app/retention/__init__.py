"""Retention (CONTRACT section 11): churn by period, tiers, risk, lifecycle, the /retention page.

Pure computation lives in `churn.py`, `tiers.py` and `risk.py` (no I/O, tested on
hand-worked examples); `queries.py` feeds them from the database; `actions.py` writes.
"""
