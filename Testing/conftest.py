"""Shared fixtures: phantoms with known anatomy, on grids and in poses chosen to break naive rules."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from CRMOAnalyzerLib.samples.phantom import Grid, Pose, make_phantom, rotation

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "CRMOAnalyzer" / "CRMOAnalyzerLib" / "resources" / "sample"

#: (bone grid, lesion grid, pose): each case is a way real data differs from the identity
CASES = {
    "identity": (Grid((3.0, 3.0, 3.0)), Grid((3.0, 3.0, 3.0)), Pose()),
    "ras_flipped": (Grid((3.0, 3.0, 3.0), np.diag([-1.0, -1.0, 1.0])), Grid((3.0, 3.0, 3.0), np.diag([-1.0, -1.0, 1.0])), Pose()),
    "k_flipped_left_handed": (Grid((3.0, 3.0, 3.0), np.diag([1.0, 1.0, -1.0])), Grid((3.5, 3.5, 3.5), np.diag([-1.0, 1.0, 1.0])), Pose()),
    "oblique": (Grid((3.0, 3.0, 3.0), rotation((1, 1, 0.3), 25)), Grid((3.5, 3.5, 4.0), rotation((0.2, 1, 0), -15)), Pose()),
    "anisotropic": (Grid((2.5, 4.0, 6.0)), Grid((4.0, 2.5, 3.5)), Pose()),
    "sagittal_axes": (Grid((3.0, 3.0, 3.0), np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])), Grid((3.0, 3.0, 3.0)), Pose()),
    "off_centre": (Grid((3.0, 3.0, 3.0)), Grid((3.5, 3.5, 4.0)), Pose(offset=np.array([160.0, -45.0, 300.0]))),
    "rotated_patient": (Grid((3.0, 3.0, 3.0), rotation((0, 0, 1), -10)), Grid((3.0, 3.0, 3.0)),
                        Pose(rotation((0, 0, 1), 25) @ rotation((1, 0, 0), 8), np.array([-70.0, 30.0, -50.0]))),
}


@pytest.fixture(autouse=True)
def core_logger_left_as_found():
    """No code under test may leave the core's logger changed: later callers (and caplog) would lose its warnings."""
    logger = logging.getLogger("CRMOAnalyzerLib")
    before = (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
    yield
    assert (logger.level, list(logger.handlers), logger.propagate, logger.disabled) == before, \
        "the test left the CRMOAnalyzerLib logger changed"


@pytest.fixture(scope="session")
def phantoms():
    """A cache of phantoms by case name."""
    cache = {}

    def get(name: str, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            bone_grid, lesion_grid, pose = CASES[name]
            cache[key] = make_phantom(bone_grid, lesion_grid, pose, **kwargs)
        return cache[key]

    return get


def found(lesion) -> tuple:
    """What a localized lesion says, in the phantom's terms."""
    return (lesion.bone, lesion.side, lesion.sublocation, lesion.bone_end)


def expected(spec: dict) -> tuple:
    """What the phantom was built to give."""
    return (spec["bone"], spec["side"], spec["sublocation"], spec["bone_end"])


def make_lesion(lesion_id: str, bone: str, side: str | None = None, sublocation: str | None = None,
                bone_end: str | None = None, volume_mm3: float | None = 1000.0, z: float = 0.0, **findings):
    """A hand-built localized lesion (codes from the vocabulary), for studies with a known answer."""
    from CRMOAnalyzerLib.anatomy import LATERALITY_CODES, bones
    from CRMOAnalyzerLib.model import Lesion

    known = bones().get(bone)
    return Lesion(id=lesion_id, source={"kind": "label", "value": int(lesion_id.strip("L") or 0), "name": None}, bone=bone,
                  finding_site=known.finding_site if known else None,
                  laterality=dict(LATERALITY_CODES[side]) if side else None, sublocation=sublocation, bone_end=bone_end,
                  centroid_ras=[0.0, 0.0, z], volume_mm3=volume_mm3, findings=dict(findings))


def need(module_name: str, why: str):
    """Import a module the tests need. Missing: the run fails under CI (``CI=true``), else the module is skipped
    with the reason shown, so no check can vanish from CI unnoticed."""
    import importlib
    import os

    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{module_name} is missing under CI ({error}): {why}", pytrace=False)
        pytest.skip(f"{module_name} is missing ({error}): {why}", allow_module_level=True)
