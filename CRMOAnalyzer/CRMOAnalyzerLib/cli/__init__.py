"""The ``crmo-analyzer`` command line: one module per subcommand, each with ``add_subparser``."""

from .main import main

__all__ = ["main"]
