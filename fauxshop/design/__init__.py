"""Describe it, see it: a shopper's words -> tag values -> matching photos -> checked products."""
