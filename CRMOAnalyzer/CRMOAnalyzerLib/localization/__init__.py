"""Localization: each lesion's bone, side and sub-location from a bone map (``localize``), through the bone map's
runs and frames (``bonemap``, ``runs``, ``measure``) and the sub-location rules of ``resources/sublocation.json``
(``sublocation``)."""
