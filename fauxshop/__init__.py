"""fauxshop: generate realistic, verified products that don't exist."""

__version__ = "0.1.0"
