"""Fake servers that tests run on loopback or unix sockets in ``tmp_path``."""
