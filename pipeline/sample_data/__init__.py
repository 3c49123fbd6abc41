"""Bundled synthetic sample dataset (support tickets + chat export) and its generator."""
