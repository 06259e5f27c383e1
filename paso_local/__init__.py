"""paso-local: an offline assistant aligned to one person's personality (PAS control vectors on llama.cpp).

Importing this package is cheap: it never imports torch or Textual.
"""

__version__ = "0.1.0"
