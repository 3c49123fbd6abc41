"""Curate, debias and privacy-protect fine-tuning sets."""

__version__ = "0.1.0"
