"""A cut-short .nii.gz is refused (ITK would read its missing voxels as zeros); whole ones read, however gzipped."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.io.images import LabelMap, read_labelmap, write_image


@pytest.fixture(scope="module")
def nifti(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gz")
    rng = np.random.default_rng(3)
    array = rng.integers(0, 40, size=(30, 40, 50)).astype(np.uint8)  # noisy: compresses little, so cuts land in voxels
    path = write_image(folder / "map.nii.gz", LabelMap(array, np.diag([2.0, 2.0, 3.0, 1.0])))
    return folder, path, array


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.99, 0.999])
def test_a_cut_short_nii_gz_is_refused(nifti, fraction):
    folder, path, _ = nifti
    data = path.read_bytes()
    cut = folder / f"cut{fraction}.nii.gz"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CRMOInputError, match="cut short or damaged") as error:
        read_labelmap(cut)
    assert str(error.value).startswith(f"{cut}: cannot read label map")


def test_whole_files_read_as_one_member_several_members_or_with_trailing_bytes(nifti):
    folder, path, array = nifti
    raw = gzip.decompress(path.read_bytes())
    variants = {"members.nii.gz": gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]),  # e.g. bgzip, cat a.gz b.gz
                "trailing.nii.gz": path.read_bytes() + b"\0" * 512,  # padding after the gzip data, as gzip ignores
                "level1.nii.gz": gzip.compress(raw, compresslevel=1)}
    for name, data in variants.items():
        (folder / name).write_bytes(data)
        np.testing.assert_array_equal(read_labelmap(folder / name).array, array, err_msg=name)
    np.testing.assert_array_equal(read_labelmap(path).array, array)
