"""``crmo-analyzer send`` of the sample study's SR and SEG to a real Orthanc (Debian's orthanc + orthanc-dicomweb),
started by the tests on free loopback ports with a temporary configuration (never the system service): by
STOW-RS and by C-STORE, read back by WADO-RS; a wrong AE title, a wrong DICOMweb root and an archive that is
down fail with one line, exit 1, the instances kept in the outbox; ``outbox --retry`` stores them once it is up.

Without the orthanc binary the tests skip, unless CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.pipeline import analyze_files
from conftest import SAMPLE
from sendtesting import cli_runner, error_line, pending
from test_export_dicom_seg import segments_read_back

ORTHANC = shutil.which("Orthanc")
IN_CI = os.environ.get("CI", "").lower() == "true"


def dicomweb_plugin() -> str | None:
    """The DICOMweb plugin .so of Debian's orthanc-dicomweb (``dpkg -L``), else the usual path."""
    try:
        listing = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=False).stdout
    except OSError:
        listing = ""
    found = [line for line in listing.splitlines() if "DicomWeb" in line and ".so" in line and Path(line).is_file()]
    found += [p for p in ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",) if Path(p).is_file()]
    return found[0] if found else None


@pytest.fixture(scope="module", autouse=True)
def orthanc_installed():
    missing = "orthanc is not installed" if not ORTHANC else "orthanc-dicomweb is not installed" \
        if not dicomweb_plugin() else ""
    if missing and IN_CI:
        pytest.fail(f"{missing}: .ci/run installs orthanc and orthanc-dicomweb")
    if missing:
        pytest.skip(f"{missing} (apt-get install orthanc orthanc-dicomweb; .ci/run does)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Orthanc:
    """An Orthanc of our own: temporary storage and configuration, loopback ports, AE title ORTHANC."""

    def __init__(self, folder: Path, http_port: int | None = None, dicom_port: int | None = None) -> None:
        self.folder = folder
        self.http_port, self.dicom_port = http_port or free_port(), dicom_port or free_port()
        self.config = folder / "orthanc.json"
        self.process: subprocess.Popen | None = None

    @property
    def dicomweb(self) -> str:
        return f"dicomweb+http://127.0.0.1:{self.http_port}/dicom-web"

    @property
    def dimse(self) -> str:
        return f"dicom://ORTHANC@127.0.0.1:{self.dicom_port}"

    def start(self) -> Orthanc:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps({
            "Name": "crmo-test", "StorageDirectory": str(self.folder / "db"), "IndexDirectory": str(self.folder / "db"),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": "ORTHANC", "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomAlwaysAllowStore": True,
            "Plugins": [dicomweb_plugin()], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "ConcurrentJobs": 1, "StorageCompression": False}))
        self.log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([ORTHANC, str(self.config)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/dicom-web/studies", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process is not None and not self.log.closed:
            self.log.close()

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=20) as answer:
            return json.loads(answer.read())

    def instance(self, sop_uid: str) -> pydicom.Dataset:
        """The stored instance, read back by QIDO-RS and WADO-RS (dicomweb-client)."""
        from dicomweb_client.api import DICOMwebClient

        client = DICOMwebClient(url=f"http://127.0.0.1:{self.http_port}/dicom-web")
        [found] = client.search_for_instances(search_filters={"SOPInstanceUID": sop_uid})
        study, series = found["0020000D"]["Value"][0], found["0020000E"]["Value"][0]
        return client.retrieve_instance(study, series, sop_uid)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    for attempt in range(3):  # a probed free port can be taken before Orthanc binds it: new ports then
        server = Orthanc(tmp_path_factory.mktemp("orthanc"))
        try:
            server.start()
            break
        except RuntimeError:
            server.stop()
            if attempt == 2:
                raise
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    study = analyze_files(sample_inputs(SAMPLE))
    save_study(study, out / "study.json")
    return study, out / "study.json"


@pytest.fixture
def cli(capsys):
    return cli_runner(capsys)


def check_read_back(orthanc: Orthanc, study, sr_uid: str, seg_uid: str) -> None:
    sr = hd.sr.Comprehensive3DSR.from_dataset(orthanc.instance(sr_uid))
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [lesion.id for lesion in study.lesions]
    for group, lesion in zip(groups, study.lesions):
        volume = group.get_measurements(name=hd.sr.CodedConcept("118565006", "SCT", "Volume"))[0]
        assert float(volume.value) == pytest.approx(lesion.volume_mm3)
        assert group.referenced_segment.referenced_sop_instance_uid == seg_uid
    seg = orthanc.instance(seg_uid)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.PatientID == sr.PatientID
    volumes = segments_read_back(seg)
    numbers = {str(item.TrackingID): int(item.SegmentNumber) for item in seg.SegmentSequence}
    for lesion in study.lesions:
        assert volumes[numbers[lesion.id]][0] == pytest.approx(lesion.volume_mm3, abs=1.0), lesion.id


def sent_instances(outbox_before: list[dict]) -> dict[str, str]:
    return {item["description"].split(" ", 1)[0]: item["id"] for item in outbox_before}


@pytest.mark.parametrize("way", ["dicomweb", "dimse"])
def test_sr_and_seg_are_stored_and_read_back(cli, orthanc, sample, tmp_path, way):
    study, path = sample
    before = set(orthanc.get("/instances"))
    destination = orthanc.dicomweb if way == "dicomweb" else orthanc.dimse
    calling = ("--aet", "CRMO_TEST") if way == "dimse" else ()
    code, _, err = cli("send", path, "--to", destination, "--outbox", tmp_path / "box", *calling)
    assert code == 0, err
    assert pending(tmp_path / "box") == []
    assert err.count(f"to {destination}: stored") == 2  # SEG, then SR
    new = [orthanc.get(f"/instances/{i}") for i in set(orthanc.get("/instances")) - before]
    uids = {item["MainDicomTags"]["SOPInstanceUID"] for item in new}
    assert len(uids) == 2
    tags = {uid: orthanc.instance(uid).SOPClassUID for uid in uids}
    [sr_uid] = [u for u, c in tags.items() if c == "1.2.840.10008.5.1.4.1.1.88.34"]
    [seg_uid] = [u for u, c in tags.items() if c == "1.2.840.10008.5.1.4.1.1.66.4"]
    check_read_back(orthanc, study, sr_uid, seg_uid)


def test_wrong_called_ae_title_keeps_both_instances(cli, orthanc, sample, tmp_path):
    _, path = sample
    before = orthanc.get("/instances")
    code, _, err = cli("send", path, "--to", f"dicom://NOT_ORTHANC@127.0.0.1:{orthanc.dicom_port}",
                       "--outbox", tmp_path / "box", "--timeout", "10")
    assert code == 1
    line = error_line(err)
    # Orthanc answers A-ASSOCIATE-RJ and closes the connection; on a loaded machine pynetdicom may see the close first
    # (an abort): either way the line names the called AE and both items stay
    assert ("rejected the association" in line or "aborted the association" in line) and "called AE NOT_ORTHANC" in line
    assert "2 of 2 items not accepted" in line, line
    items = pending(tmp_path / "box")
    assert [item["description"].split()[0] for item in items] == ["SEG", "SR"] and all(i["attempts"] == 1 for i in items)
    assert orthanc.get("/instances") == before


def test_wrong_dicomweb_root_is_refused(cli, orthanc, sample, tmp_path):
    _, path = sample
    code, _, err = cli("send", path, "--to", f"dicomweb+http://127.0.0.1:{orthanc.http_port}/no-such-root",
                       "--outbox", tmp_path / "box", "--timeout", "10")
    assert code == 1 and "HTTP 404" in error_line(err)
    assert len(pending(tmp_path / "box")) == 2


@pytest.mark.parametrize("way", ["dicomweb", "dimse"])
def test_archive_down_then_up_outbox_retry_stores_the_same_instances(cli, sample, tmp_path, way):
    study, path = sample
    archive = Orthanc(tmp_path / "orthanc")
    destination = archive.dicomweb if way == "dicomweb" else archive.dimse
    started = time.monotonic()
    code, _, err = cli("send", path, "--to", destination, "--outbox", tmp_path / "box", "--timeout", "5")
    assert time.monotonic() - started < 20  # one attempt per instance, each within --timeout
    assert code == 1 and "cannot connect: connection refused" in error_line(err), err
    kept = pending(tmp_path / "box")
    assert len(kept) == 2
    archive.start()
    try:
        code, _, err = cli("outbox", "--outbox", tmp_path / "box", "--retry")
        assert code == 0, err
        assert pending(tmp_path / "box") == []
        ids = sent_instances(kept)
        check_read_back(archive, study, ids["SR"], ids["SEG"])  # the very instances that waited in the outbox
    finally:
        archive.stop()


def test_followup_keeps_the_tracking_uids_of_the_baseline_sr_in_the_archive(cli, orthanc, sample, tmp_path):
    """Baseline sent, its SR fetched back from the archive; the follow-up sent with --compare --baseline-sr: each
    matched lesion's group (and segment) in the archive has the baseline's Tracking UID."""
    study, path = sample
    baseline = json.loads(path.read_text())
    baseline["study"]["date"] = "2025-11-20"
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))

    def send_and_fetch(*argv) -> dict[str, pydicom.Dataset]:
        before = set(orthanc.get("/instances"))
        code, _, err = cli("send", *argv, "--to", orthanc.dicomweb, "--outbox", tmp_path / "box")
        assert code == 0, err
        new = [orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
               for i in set(orthanc.get("/instances")) - before]
        fetched = {uid: orthanc.instance(uid) for uid in new}
        return {("SR" if ds.Modality == "SR" else "SEG"): ds for ds in fetched.values()}

    first = send_and_fetch(tmp_path / "baseline.json")
    first["SR"].save_as(tmp_path / "baseline_sr.dcm", enforce_file_format=True)
    second = send_and_fetch(path, "--compare", tmp_path / "baseline.json", "--baseline-sr", tmp_path / "baseline_sr.dcm")

    def uids(ds) -> dict[str, str]:
        if ds.Modality == "SEG":
            return {str(s.TrackingID): str(s.TrackingUID) for s in ds.SegmentSequence}
        groups = hd.sr.Comprehensive3DSR.from_dataset(ds).content.get_volumetric_roi_measurement_groups()
        return {str(g.tracking_identifier): str(g.tracking_uid) for g in groups}

    assert uids(first["SR"]) == uids(first["SEG"])
    assert uids(second["SR"]) == uids(second["SEG"]) == uids(first["SR"])  # every sample lesion is matched
    assert second["SR"].SOPInstanceUID != first["SR"].SOPInstanceUID
    assert len(uids(second["SR"])) == len(study.lesions)
