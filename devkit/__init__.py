"""devkit: git flows, safe archive extraction and YAML recipes from one command line."""

__version__ = "0.1.0"
