"""Serving a classifier: a Gradio web UI and a JSON API on one local server."""
