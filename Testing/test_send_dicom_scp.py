"""C-STORE answers an archive can give, from a pynetdicom Storage SCP on loopback (no Orthanc needed): a failure
status, a warning status (stored), and no presentation context for the instance's SOP class."""

from __future__ import annotations

from pathlib import Path

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, Comprehensive3DSRStorage, SegmentationStorage

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.pipeline import analyze_files
from conftest import SAMPLE
from sendtesting import cli_runner, error_line, pending


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scp")
    save_study(analyze_files(sample_inputs(SAMPLE)), out / "study.json")
    return out / "study.json"


@pytest.fixture
def cli(capsys):
    return cli_runner(capsys)


def send_to_scp(cli, study_file, tmp_path, status: int, sop_classes=(Comprehensive3DSRStorage, SegmentationStorage)):
    """``send`` to a Storage SCP (AE title ARCHIVE, on a free loopback port) answering every C-STORE with ``status``;
    returns (exit code, stderr, the SOP Instance UIDs it received)."""
    received = []

    def handle(event):
        received.append(str(event.dataset.SOPInstanceUID))
        return status

    ae = AE(ae_title="ARCHIVE")
    for sop_class in sop_classes:
        ae.add_supported_context(sop_class, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, handle)])
    try:
        code, _, err = cli("send", study_file, "--to", f"dicom://ARCHIVE@127.0.0.1:{server.server_address[1]}",
                           "--outbox", tmp_path / "box", "--aet", "CRMO", "--timeout", "10")
    finally:
        server.shutdown()
    return code, err, received


def test_failure_status_keeps_both_instances(cli, study_file, tmp_path):
    code, err, received = send_to_scp(cli, study_file, tmp_path, 0xA700)
    assert code == 1 and "C-STORE status 0xA700" in error_line(err)
    assert len(received) == 2
    assert sorted(item["id"] for item in pending(tmp_path / "box")) == sorted(received)


def test_warning_status_is_stored(cli, study_file, tmp_path):
    code, err, received = send_to_scp(cli, study_file, tmp_path, 0xB007)
    assert code == 0, err
    assert len(received) == 2 and pending(tmp_path / "box") == []
    assert err.count("stored with warning 0xB007") == 2


def test_no_presentation_context_is_one_line(cli, study_file, tmp_path):
    code, err, received = send_to_scp(cli, study_file, tmp_path, 0x0000, sop_classes=(CTImageStorage,))
    line = error_line(err)
    assert code == 1 and "accepts no Segmentation Storage" in line and "presentation context rejected" in line, line
    assert received == [] and len(pending(tmp_path / "box")) == 2
