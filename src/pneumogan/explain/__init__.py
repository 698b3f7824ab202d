"""Explanations: Grad-CAM and Grad-CAM++ heat maps for classifier predictions."""
