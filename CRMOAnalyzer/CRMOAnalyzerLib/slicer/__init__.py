"""The 3D Slicer adapter: the only part of the package that imports Slicer's MRML classes and VTK (never Qt).
Imported only inside Slicer or with the ``slicer-core`` wheel."""
