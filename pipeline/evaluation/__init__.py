"""What the evaluate stage measures: utility, model bias and privacy leakage (pure functions and model scoring)."""
