"""Custom operators of published networks, re-written in plain PyTorch (no compiled extensions)."""
