"""Reusable test support: loopback servers (Ollama-compatible) and their pytest fixtures."""
