"""The compliance report: its content gathered from a run directory, the policy checks, plots and rendering."""
