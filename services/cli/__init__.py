"""The operator CLI: ``txflow``."""
