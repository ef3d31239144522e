"""Renderers: text (Rich on a terminal, plain when piped), json and jsonl. Nothing else prints to stdout."""
