"""Exporting classifiers to other runtimes (ONNX)."""
