"""The text half of fauxshop: a GPT-2 that writes product descriptions from tag contexts."""
