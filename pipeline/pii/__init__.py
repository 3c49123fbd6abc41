"""PII detection for the redact stage: Presidio recognizers tuned for enterprise text."""
