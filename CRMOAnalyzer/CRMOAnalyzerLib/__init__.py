"""CRMO Analyzer domain core: localize, tabulate and report bone lesions of CRMO.

Plain Python (numpy, SimpleITK); no Slicer, Qt or VTK import here (``mrml.py`` is the adapter).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
