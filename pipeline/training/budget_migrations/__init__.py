"""Alembic migrations of the privacy budget store's schema (pipeline.training.budget); `BudgetStore` runs them.

A new revision: copy `versions/0001_initial.py` to `versions/0002_<what>.py`, set `revision = "0002"` and
`down_revision = "0001"`, write its `upgrade` (and `downgrade`), and change the tables in budget.py to match.
Keep every older revision: next year's pipeline upgrades this year's store through them.
"""
