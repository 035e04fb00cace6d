"""CRMO Analyzer domain core: localize, tabulate and report bone lesions of CRMO.

Plain Python (numpy, SimpleITK); no Slicer, Qt or VTK import outside ``slicer/`` (the MRML adapter).
Folders: ``io`` (readers, writers) -> ``localization`` -> ``model`` -> ``reading`` -> ``exports``, ``send``;
``cohort``, ``candidates``, ``cli``, ``slicer``, ``samples``. See ARCHITECTURE.md.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

__all__ = ["__version__"]

#: modules of release 0.1's flat layout -> their folder; the old names import the same module (with a warning)
#: for one release, so scripts written against them keep working
MOVED = {
    **{name: "io" for name in ("files", "images", "segmentation_file", "markups", "volumes", "labelnames", "geometry")},
    **{name: "localization" for name in ("localize", "runs", "measure", "bonemap", "sublocation")},
    **{name: "reading" for name in ("distribution", "conditions", "scores", "redflags", "report", "compare", "tables")},
    "body_atlas": "exports", "mrml": "slicer", "panel_exports": "slicer", "phantom": "samples",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``CRMOAnalyzerLib.<old name>`` as the module at its new place (one module object, not a copy)."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = f"{__name__}.{MOVED[spec.name.rpartition('.')[2]]}.{spec.name.rpartition('.')[2]}"
        warnings.warn(f"{spec.name} moved to {new}; the old name goes in the next release", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(new)
        self._spec = module.__spec__  # the import system sets __spec__ to the old name's: put it back after
        return module

    def exec_module(self, module):
        """The module was executed at its new place: only its own spec is restored."""
        module.__spec__ = self._spec


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
