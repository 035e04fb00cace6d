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


def test_a_label_map_without_its_voxels_keeps_its_grid_and_names_and_frees_the_voxels(nifti):
    """What the pipeline keeps of the lesion map once it is measured: where it lies and its names, not its voxels
    (the SimpleITK image read from the file is released with the last array on it)."""
    import gc
    import weakref

    _, path, array = nifti
    full = read_labelmap(path)
    full.names = {3: "lesion three"}
    image = weakref.ref(full.array.base.image)  # the image that owns the voxels (no copy was made)
    grid = full.without_voxels()
    assert grid.same_grid(full) and full.same_grid(grid) and grid.shape_ijk == full.shape_ijk
    np.testing.assert_array_equal(grid.affine, full.affine)
    assert (grid.source, grid.names, grid.array.dtype) == (full.source, {3: "lesion three"}, array.dtype)
    assert grid.names is not full.names and grid.itk is None
    assert grid.array.strides == (0, 0, 0) and not grid.array.any()  # one shared zero, whatever the shape
    del full
    gc.collect()
    assert image() is None
