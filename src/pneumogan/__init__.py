"""PneumoGAN: GAN augmentation and CNN classifiers for pneumonia detection from chest X-rays.

Research software, not a medical device.
"""

__version__ = "0.1.0"

from pneumogan.errors import PneumoganError

__all__ = ["PneumoganError", "__version__"]
