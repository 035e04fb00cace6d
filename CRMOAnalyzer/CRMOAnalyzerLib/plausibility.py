"""Swapped inputs: a bone map given as the lesions, or a lesion map given as the bones.

Each check returns why the input looks swapped (one line, ready for an error), or ``None``. The
signals, chosen to be robust on real maps (a whole-body bone map, a TotalSegmentator map with organs
and muscles, a lesion map):

- **lesions cover the skeleton**: CRMO lesions take a small part of the skeleton; a bone or whole-body
  map given as lesions covers most of it (its volume is at least half the bone map's bone volume);
- **a lesion larger than its bone**: a liver or a muscle read as a "lesion" next to a rib;
- **lesions named as bones that fill their bones**: most labels carry bone names *and* the labels fill
  the bones they lie in (a reader may name lesions after their bone, but a lesion does not fill it);
- **a bone map naming almost no bone**: fewer than half of its labels name a bone of the vocabulary and
  fewer than three bones are named (lesion names such as "T8 body" may name one bone by chance; a
  TotalSegmentator map with organs still names dozens of bones).
"""

from __future__ import annotations

import numpy as np

from .anatomy import find_bone
from .bonemap import BoneMap
from .images import LabelMap
from .model import Study

__all__ = ["swapped_lesions", "swapped_bones", "COVER_FRACTION", "LARGER", "FILL_FRACTION", "NAMED_FRACTION", "MIN_BONES"]

#: lesions at least this share of the bone map's bone volume are no lesions
COVER_FRACTION = 0.5
#: labels whose median volume is at least this share of their bone's volume fill their bones
FILL_FRACTION = 0.5
#: at least this share of the lesion labels named as bones (and at least MIN_BONES of them)
NAMED_FRACTION = 0.8
#: a lesion this many times its bone's volume is larger than its bone (1% over: rounding and resampling)
LARGER = 1.01
#: a bone map names at least this many bones, or at least half of its labels are bones
MIN_BONES = 3

_SWAPPED = "is this the bone map given as lesions? (use --force if these are lesions)"


def _bone_volumes(bonemap: BoneMap) -> dict[int, float]:
    voxel = bonemap.labelmap.voxel_volume_mm3
    return {value: bonemap.voxel_count(value) * voxel for value in bonemap.bones}


def _cm3(mm3: float) -> str:
    return f"{mm3 / 1000:.1f} cm³"


def swapped_lesions(study: Study, bonemap: BoneMap, lesions: LabelMap | None = None) -> str | None:
    """Why the lesion map of ``study`` looks like a bone (or whole-body) map, or ``None``."""
    measured = [l for l in study.lesions if l.volume_mm3 is not None]
    if not measured:
        return None
    bone_volume = _bone_volumes(bonemap)
    skeleton = sum(bone_volume.values())
    total = sum(l.volume_mm3 for l in measured)
    if skeleton > 0 and total >= COVER_FRACTION * skeleton:
        return (f"{len(measured)} labels of {_cm3(total)} in all, {100 * total / skeleton:.0f}% of the skeleton's "
                f"{_cm3(skeleton)} in the bone map {bonemap.labelmap.source}: lesions cover a small part of it; {_SWAPPED}")
    fills = []
    for lesion in measured:
        value = lesion.localization.get("bone_label_value")
        if value not in bone_volume:
            continue
        fills.append(lesion.volume_mm3 / bone_volume[value])
        if lesion.volume_mm3 > LARGER * bone_volume[value]:
            name = lesion.source.get("name") or lesion.id
            return (f"label {lesion.source.get('value')} ({name}) holds {_cm3(lesion.volume_mm3)}, more than its bone, the "
                    f"{bonemap.bones[value].display} ({_cm3(bone_volume[value])}): a lesion lies within its bone; {_SWAPPED}")
    names = [str(name) for name in (lesions.names if lesions is not None else {}).values()]
    as_bones = [name for name in names if find_bone(name) is not None]
    if (len(as_bones) >= MIN_BONES and len(as_bones) >= NAMED_FRACTION * len(names)
            and fills and float(np.median(fills)) >= FILL_FRACTION):
        shown = ", ".join(as_bones[:4]) + (", ..." if len(as_bones) > 4 else "")
        return (f"{len(as_bones)} of {len(names)} labels are named as bones ({shown}) and fill their bones "
                f"(median {100 * float(np.median(fills)):.0f}% of the bone's volume); {_SWAPPED}")
    return None


def swapped_bones(bonemap: BoneMap) -> str | None:
    """Why the bone map looks like a lesion map (its labels name almost no bone), or ``None``."""
    known, ignored = len(bonemap.bones), len(bonemap.ignored)
    if known >= MIN_BONES or known >= ignored:
        return None
    named = sorted({bone.name for bone in bonemap.bones.values()})
    others = ", ".join(sorted(set(bonemap.ignored.values()))[:4]) + (", ..." if ignored > 4 else "")
    return (f"only {known} of {known + ignored} labels name a bone ({', '.join(named)}); the others ({others}) are no "
            f"bone of the vocabulary: is this the lesion map given as bones? (use --force if it is the bone map)")
