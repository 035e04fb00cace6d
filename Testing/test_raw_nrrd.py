"""Uncompressed NRRD files read by pynrrd into numpy (io/raw_nrrd.py): the same voxels and geometry as SimpleITK's
reading, and every other NRRD left to SimpleITK."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.io.images import image_from_sitk, labelmap_from_sitk, read_image, read_labelmap
from CRMOAnalyzerLib.io.raw_nrrd import read_raw_nrrd

#: an oblique, off-centre, anisotropic grid whose i axis runs to the patient's right (LPS -x)
DIRECTION = (-0.8, 0.6, 0.0, 0.0, 0.0, -1.0, -0.6, -0.8, 0.0)
SPACING = (0.7, 1.3, 2.9)
ORIGIN = (-123.4, 56.7, 890.1)


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def _voxels(dtype) -> np.ndarray:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 100, size=(3, 4, 5)) if np.dtype(dtype).kind in "iu" else rng.normal(size=(3, 4, 5)) * 100
    return values.astype(dtype)


def _header(fields: str, array: np.ndarray) -> bytes:
    """A NRRD header (attached) for ``array`` on the test grid, with extra ``fields``."""
    types = {"u1": "uint8", "i2": "int16", "u2": "uint16"}
    sizes = " ".join(str(n) for n in reversed(array.shape))
    d = DIRECTION
    directions = " ".join(f"({d[c] * SPACING[c]},{d[3 + c] * SPACING[c]},{d[6 + c] * SPACING[c]})" for c in range(3))
    return (f"NRRD0004\ntype: {types[array.dtype.str[1:]]}\ndimension: 3\nspace: left-posterior-superior\n"
            f"sizes: {sizes}\nspace directions: {directions}\nkinds: domain domain domain\n"
            f"space origin: ({ORIGIN[0]},{ORIGIN[1]},{ORIGIN[2]})\n{fields}\n\n").encode()


def _same_as_simpleitk(path, read, from_sitk) -> None:
    ours, theirs = read(path), from_sitk(sitk.ReadImage(str(path)), str(path))
    assert ours.array.dtype == theirs.array.dtype and ours.array.shape == theirs.array.shape
    assert np.array_equal(ours.array, theirs.array)
    assert np.array_equal(ours.affine, theirs.affine)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64,
                                   np.float32, np.float64])
def test_a_plain_nrrd_is_read_by_pynrrd_as_simpleitk_reads_it(tmp_path, dtype):
    path = tmp_path / "plain.nrrd"
    sitk.WriteImage(_image(_voxels(dtype)), str(path), False)
    array, reader = read_raw_nrrd(path)
    assert array.shape == (3, 4, 5) and array.dtype == dtype and reader.GetSize() == (5, 4, 3)
    _same_as_simpleitk(path, read_image, image_from_sitk)
    if np.dtype(dtype).kind in "iu":
        _same_as_simpleitk(path, read_labelmap, labelmap_from_sitk)
        assert not read_labelmap(path).array.flags.writeable


def test_a_plain_nrrd_keeps_its_sides(tmp_path):
    """Along i the grid runs to the patient's right (LPS x falls 0.8 per unit): the last voxel of a row is the more
    right one, RAS x (the patient's right) higher by 4 voxels x 0.7 mm x 0.8."""
    array = np.zeros((3, 4, 5), np.uint8)
    array[1, 2, 0], array[1, 2, 4] = 1, 2
    path = tmp_path / "sides.nrrd"
    sitk.WriteImage(_image(array), str(path), False)
    assert read_raw_nrrd(path) is not None
    labelmap = read_labelmap(path)
    k, j, i = np.argwhere(labelmap.array == 2)[0]
    right = labelmap.affine @ [i, j, k, 1]
    k, j, i = np.argwhere(labelmap.array == 1)[0]
    left = labelmap.affine @ [i, j, k, 1]
    assert right[0] - left[0] == pytest.approx(4 * SPACING[0] * 0.8)
    assert right[1:3] == pytest.approx(left[1:3] + [0, -4 * SPACING[0] * 0.6])  # and 0.6 per unit to the feet (LPS z -)


def _write(path, header: bytes, data: bytes) -> None:
    path.write_bytes(header + data)


def _fallbacks(tmp_path) -> dict:
    """NRRD files SimpleITK reads but the plain path leaves to it."""
    array = _voxels(np.int16)
    files = {}
    files["gzip"] = tmp_path / "gzip.nrrd"
    sitk.WriteImage(_image(array), str(files["gzip"]), True)
    files["big endian"] = tmp_path / "big.nrrd"
    _write(files["big endian"], _header("encoding: raw\nendian: big", array), array.astype(">i2").tobytes())
    files["byte skip"] = tmp_path / "byteskip.nrrd"
    _write(files["byte skip"], _header("encoding: raw\nendian: little\nbyte skip: 4", array),
           b"\x07\x07\x07\x07" + array.astype("<i2").tobytes())
    files["line skip"] = tmp_path / "lineskip.nrrd"
    _write(files["line skip"], _header("encoding: raw\nendian: little\nline skip: 1", array),
           b"a line to skip\n" + array.astype("<i2").tobytes())
    files["detached"] = tmp_path / "detached.nhdr"
    (tmp_path / "detached.raw").write_bytes(array.astype("<i2").tobytes())
    files["detached"].write_bytes(_header("encoding: raw\nendian: little\ndata file: detached.raw", array))
    files["trailing bytes"] = tmp_path / "trailing.nrrd"
    _write(files["trailing bytes"], _header("encoding: raw\nendian: little", array), b"\x01\x02" + array.astype("<i2").tobytes())
    files["4D of one"] = tmp_path / "four.nrrd"
    sitk.WriteImage(sitk.JoinSeries([_image(array)]), str(files["4D of one"]), False)
    return files


@pytest.mark.parametrize("case", ["gzip", "big endian", "byte skip", "line skip", "detached", "trailing bytes",
                                  "4D of one"])
def test_other_nrrd_files_are_left_to_simpleitk(tmp_path, case):
    path = _fallbacks(tmp_path)[case]
    assert read_raw_nrrd(path) is None
    image = sitk.ReadImage(str(path))
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    assert np.array_equal(read_labelmap(path).array, sitk.GetArrayViewFromImage(image))
    assert np.array_equal(read_image(path).array, sitk.GetArrayViewFromImage(image))


def test_the_hand_made_headers_hold_the_test_grid(tmp_path):
    """The fallback files' headers describe the same grid and voxels as SimpleITK's own file (else the test above
    would compare nothing)."""
    array = _voxels(np.int16)
    path = tmp_path / "little.nrrd"
    _write(path, _header("encoding: raw\nendian: little", array), array.astype("<i2").tobytes())
    assert read_raw_nrrd(path) is not None
    written = tmp_path / "sitk.nrrd"
    sitk.WriteImage(_image(array), str(written), False)
    assert np.array_equal(read_image(path).array, array)
    assert np.allclose(read_image(path).affine, read_image(written).affine)


def test_a_2d_or_vector_nrrd_is_refused_by_the_same_errors(tmp_path):
    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5), np.uint8)), str(flat), False)
    vector = tmp_path / "vector.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 2), np.uint8), isVector=True), str(vector), False)
    flat_vector = tmp_path / "flat_vector.nrrd"  # 3 axes in the file (sizes 2 5 4), a 2D image of pairs to ITK
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 2), np.uint8), isVector=True), str(flat_vector), False)
    assert read_raw_nrrd(flat) is None and read_raw_nrrd(vector) is None and read_raw_nrrd(flat_vector) is None
    for path in (flat, flat_vector):
        with pytest.raises(CRMOInputError, match="2D, expected a 3D image"):
            read_labelmap(path)
    with pytest.raises(CRMOInputError, match="2 components per voxel"):
        read_image(vector)


@pytest.mark.parametrize("cut", [1, 40])
def test_a_cut_short_nrrd_is_refused_in_one_line(tmp_path, cut):
    path = tmp_path / "short.nrrd"
    sitk.WriteImage(_image(_voxels(np.int16)), str(path), False)
    path.write_bytes(path.read_bytes()[:-cut])
    assert read_raw_nrrd(path) is None
    with pytest.raises(CRMOInputError) as error:
        read_labelmap(path, "bone map")
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_reading_other_than_simpleitks_is_left_to_simpleitk(tmp_path, monkeypatch):
    """Should pynrrd ever lay out a file's axes otherwise than SimpleITK (here: made to), SimpleITK reads it."""
    import nrrd

    path = tmp_path / "plain.nrrd"
    sitk.WriteImage(_image(_voxels(np.uint8)), str(path), False)
    read_data = nrrd.read_data
    monkeypatch.setattr(nrrd, "read_data", lambda *args, **kwargs: read_data(*args, **kwargs).transpose(2, 1, 0).copy())
    assert read_raw_nrrd(path) is None
    _same_as_simpleitk(path, read_labelmap, labelmap_from_sitk)


def test_without_pynrrd_simpleitk_reads(tmp_path, monkeypatch):
    """A Slicer whose Python lacks pynrrd yet (the extension's requirements not installed) still reads the file."""
    import sys

    path = tmp_path / "plain.nrrd"
    sitk.WriteImage(_image(_voxels(np.uint8)), str(path), False)
    monkeypatch.setitem(sys.modules, "nrrd", None)  # import nrrd raises ImportError
    assert read_raw_nrrd(path) is None
    _same_as_simpleitk(path, read_labelmap, labelmap_from_sitk)


def test_a_plain_nrrd_in_ras_space_lies_where_its_lps_twin_lies(tmp_path):
    """A header written in RAS space (Slicer's older files): the same grid as its LPS twin, read as SimpleITK reads it."""
    array = _voxels(np.uint8)
    d = DIRECTION
    directions = " ".join(f"({-d[c] * SPACING[c]},{-d[3 + c] * SPACING[c]},{d[6 + c] * SPACING[c]})" for c in range(3))
    header = (f"NRRD0004\ntype: uint8\ndimension: 3\nspace: right-anterior-superior\nsizes: 5 4 3\n"
              f"space directions: {directions}\nkinds: domain domain domain\nencoding: raw\n"
              f"space origin: ({-ORIGIN[0]},{-ORIGIN[1]},{ORIGIN[2]})\n\n").encode()
    ras = tmp_path / "ras.nrrd"
    _write(ras, header, array.tobytes())
    lps = tmp_path / "lps.nrrd"
    sitk.WriteImage(_image(array), str(lps), False)
    assert read_raw_nrrd(ras) is not None
    _same_as_simpleitk(ras, read_labelmap, labelmap_from_sitk)
    assert np.allclose(read_labelmap(ras).affine, read_labelmap(lps).affine)
    assert np.array_equal(read_labelmap(ras).array, read_labelmap(lps).array)
