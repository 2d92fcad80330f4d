"""Code both txflow services import: settings, keys, money, the transaction model."""
