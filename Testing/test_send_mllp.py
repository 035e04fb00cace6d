"""``crmo-analyzer send --to mllp://`` and ``crmo-analyzer outbox`` against a real MLLP receiver on loopback
(hl7apy's MLLPServer): AA and CA accept; AE, AR, an ACK for another message, no answer, a dropped connection,
a refused connection fail with one line and exit 1, the message kept in the outbox; a sender killed mid-send
leaves its message in the outbox, and ``outbox --retry`` resends it with the same MSH-10."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hl7apy.mllp import AbstractHandler, MLLPServer

from CRMOAnalyzerLib.model import save_study
from conftest import ROOT
from sendtesting import cli_runner, error_line, pending
from studybuilder import femur_pair, study

SB, EB = "\x0b", "\x1c\r"


def msh10(message: str) -> str:
    return message.split("\r", 1)[0].split("|")[9]


class Receiver:
    """An MLLP receiver on a free loopback port answering as ``mode`` says."""

    def __init__(self, outbox: Path | None = None) -> None:
        self.mode = "AA"
        self.received: list[str] = []
        self.outbox_at_arrival: list[list[dict]] = []
        self.outbox = outbox
        self.release = threading.Event()
        self.arrived = threading.Event()
        handlers = {key: (_Handler, self) for key in ("ORU^R01^ORU_R01", "ORU^R01")}
        self.server = MLLPServer("127.0.0.1", 0, handlers, timeout=30)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"mllp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(AbstractHandler):
    def __init__(self, message: str, receiver: Receiver) -> None:
        super().__init__(message)
        self.receiver = receiver

    def reply(self) -> str:
        receiver, message = self.receiver, self.incoming_message
        receiver.received.append(message)
        if receiver.outbox is not None:  # what the outbox held when the first byte had arrived
            receiver.outbox_at_arrival.append([json.loads(p.read_text()) for p in sorted(receiver.outbox.glob("*.json"))])
        receiver.arrived.set()
        mode = receiver.mode
        if mode == "silent":
            receiver.release.wait(20)
            return ""
        if mode == "drop":
            raise ConnectionAbortedError("hl7apy closes the connection without an answer")
        if mode == "garbage":
            return SB + "HTTP/1.1 400 Bad Request" + EB
        code, control = (mode, msh10(message)) if mode != "other-id" else ("AA", "SOMEONE-ELSE")
        ack = (f"MSH|^~\\&|RIS|HOSP|CRMO_ANALYZER||20261202090000||ACK^R01^ACK|ACK{len(receiver.received)}|P|2.5.1\r"
               f"MSA|{code}|{control}|{'duplicate order' if code == 'AE' else ''}\r")
        return SB + ack + EB


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("send")
    known = study(*femur_pair(marrow_edema=True))
    known.patient["name"] = "Doe^Jane"  # PID-5 is required; no accession: --accession gives it
    save_study(known, out / "study.json")
    return out / "study.json"


@pytest.fixture
def cli(capsys):
    return cli_runner(capsys)


@pytest.fixture
def receiver(tmp_path):
    server = Receiver(tmp_path / "outbox")
    yield server
    server.close()


def send(cli, study_file, receiver, *extra):
    return cli("send", study_file, "--to", receiver.url, "--accession", "A123", "--outbox", receiver.outbox, *extra)


@pytest.mark.parametrize("mode", ["AA", "CA"])
def test_accepted_message_leaves_the_outbox_empty(cli, study_file, receiver, mode):
    receiver.mode = mode
    code, _, err = send(cli, study_file, receiver)
    assert code == 0, err
    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert message.startswith("MSH|") and "|ORU^R01" in message and "OBR|" in message and "|A123" in message
    assert pending(receiver.outbox) == []
    # the outbox held exactly this message, complete, before its first byte reached the receiver
    [before] = receiver.outbox_at_arrival
    assert len(before) == 1 and before[0]["message"] == message and before[0]["id"] == msh10(message)
    assert f"sent ORU^R01 of {study_file} to {receiver.url}: {mode}" in err


def test_message_is_the_one_report_writes(cli, study_file, receiver, tmp_path):
    code, _, _ = send(cli, study_file, receiver)
    assert code == 0
    code, out, _ = cli("report", study_file, "--format", "hl7", "--accession", "A123")
    assert code == 0
    now = re.compile(r"\|\d{14}\|")  # MSH-7 and OBR-22 are the time of the message
    sent, written = (now.sub("|TIME|", text).split("\r") for text in (receiver.received[0], out))
    assert [s[:3] for s in sent] == [s[:3] for s in written]  # same segments
    assert sent[1:] == written[1:]  # same content; only MSH-7 time and MSH-10 id are per message


@pytest.mark.parametrize(("mode", "words"), [
    ("AE", "answered AE (application error): duplicate order"), ("AR", "answered AR (application reject)"),
    ("other-id", "the acknowledgement is for message 'SOMEONE-ELSE'"),
    ("drop", "closed the connection without an acknowledgement"),
    ("garbage", "the answer is not an HL7 acknowledgement"),
    ("silent", "no acknowledgement within 1 s")])
def test_refusal_keeps_the_message_in_the_outbox(cli, study_file, receiver, mode, words):
    receiver.mode = mode
    started = time.monotonic()
    code, _, err = send(cli, study_file, receiver, "--timeout", "1")
    assert time.monotonic() - started < 10
    assert code == 1
    line = error_line(err)
    assert words in line and receiver.url in line and "stays in the outbox" in line, line
    [item] = pending(receiver.outbox)
    assert item["kind"] == "hl7" and item["destination"] == receiver.url and item["attempts"] == 1
    assert item["message"] == receiver.received[0] and item["id"] == msh10(receiver.received[0])
    assert words in item["last_error"]


def test_refused_connection_keeps_the_message(cli, study_file, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = cli("send", study_file, "--to", f"mllp://127.0.0.1:{port}", "--accession", "A1",
                       "--outbox", tmp_path / "box")
    assert code == 1
    assert "connection refused" in error_line(err)
    [item] = pending(tmp_path / "box")
    assert "|A1" in item["message"] and "connection refused" in item["last_error"]


def test_retry_resends_with_the_same_control_id_and_removes_only_when_accepted(cli, study_file, receiver):
    receiver.mode = "AE"
    assert send(cli, study_file, receiver)[0] == 1
    first = receiver.received[0]
    code, out, _ = cli("outbox", "--outbox", receiver.outbox)
    assert code == 0 and msh10(first) in out and "attempts 1" in out and "application error" in out
    code, _, err = cli("outbox", "--outbox", receiver.outbox, "--retry")  # still refused: kept, attempts counted
    assert code == 1 and "application error" in error_line(err)
    assert [item["attempts"] for item in pending(receiver.outbox)] == [2]
    receiver.mode = "AA"
    code, _, err = cli("outbox", "--outbox", receiver.outbox, "--retry")
    assert code == 0, err
    assert receiver.received[1:] == [first, first]  # byte for byte the same message, MSH-10 included
    assert pending(receiver.outbox) == []
    code, out, err = cli("outbox", "--outbox", receiver.outbox)
    assert code == 0 and out == "" and "nothing pending" in err


def test_unreadable_outbox_item_is_left_and_reported(cli, receiver):
    receiver.outbox.mkdir()
    (receiver.outbox / "20260101T000000-hl7-x.json").write_text("{not json")
    code, out, _ = cli("outbox", "--outbox", receiver.outbox)
    assert code == 0 and "unreadable" in out
    code, _, err = cli("outbox", "--outbox", receiver.outbox, "--retry")
    assert code == 1 and "not a readable outbox item" in error_line(err)
    assert (receiver.outbox / "20260101T000000-hl7-x.json").exists() and receiver.received == []


@pytest.mark.parametrize(("argv", "words"), [
    (("--to", "http://x:1"), "unknown destination"), (("--to", "mllp://host"), "give the host and port"),
    (("--to", "mllp://h:99999"), "give the host and port"), (("--to", "dicom://h:104"), "AE title"),
    (("--to", "mllp://127.0.0.1:9", "--aet", "X"), "calling AE title is for dicom"),
    (("--to", "mllp://127.0.0.1:9", "--no-seg"), "--no-seg: is for DICOM"),
    (("--to", "dicom://A@127.0.0.1:9", "--text", "r.txt"), "--accession: is for HL7")])
def test_bad_destination_is_one_line(cli, study_file, tmp_path, argv, words):
    code, _, err = cli("send", study_file, "--accession", "A", "--outbox", tmp_path / "box", *argv)
    assert code == 1 and words in error_line(err)
    assert not (tmp_path / "box").exists() or pending(tmp_path / "box") == []


def test_no_accession_sends_nothing(cli, study_file, receiver):
    code, _, err = cli("send", study_file, "--to", receiver.url, "--outbox", receiver.outbox)
    assert code == 1 and "no accession number" in error_line(err)
    assert receiver.received == [] and pending(receiver.outbox) == []


def test_missing_study_is_one_line(cli, tmp_path):
    code, _, err = cli("send", tmp_path / "nope.json", "--to", "mllp://127.0.0.1:9", "--outbox", tmp_path / "box")
    assert code == 1 and "nope.json" in error_line(err)


def test_sender_killed_mid_send_leaves_its_message_in_the_outbox(cli, study_file, receiver):
    receiver.mode = "silent"
    script = "import sys; from CRMOAnalyzerLib.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "CRMOAnalyzer"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", script, "send", str(study_file), "--to", receiver.url,
                                "--accession", "K9", "--outbox", str(receiver.outbox), "--timeout", "60"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert receiver.arrived.wait(60), process.stderr.read() if process.poll() is not None else "no message arrived"
        # a retry meanwhile leaves the message to the process sending it: not sent twice
        code, _, err = cli("outbox", "--outbox", receiver.outbox, "--retry", "--timeout", "2")
        assert code == 1 and "being sent by another process" in error_line(err)
        assert len(receiver.received) == 1
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    [item] = pending(receiver.outbox)
    killed = receiver.received[0]
    assert item["message"] == killed and item["attempts"] == 0 and "|K9" in killed
    receiver.mode = "AA"
    code, _, err = cli("outbox", "--outbox", receiver.outbox, "--retry")
    assert code == 0, err
    assert receiver.received[-1] == killed and msh10(receiver.received[-1]) == item["id"]
    assert pending(receiver.outbox) == []


def test_followup_and_edited_text_are_the_ones_report_writes(cli, study_file, receiver, tmp_path):
    baseline = study(*femur_pair(), date="2025-11-20")
    baseline.patient["name"] = "Doe^Jane"
    save_study(baseline, tmp_path / "baseline.json")
    now = re.compile(r"\|\d{14}\|")
    for extra in (("--compare", tmp_path / "baseline.json"), ("--text", tmp_path / "edited.txt")):
        (tmp_path / "edited.txt").write_text("FINDINGS\nEdited by the reader: two lesions.\n\nIMPRESSION\nFits CRMO.\n")
        code, _, err = send(cli, study_file, receiver, *extra)
        assert code == 0, err
        code, out, _ = cli("report", study_file, "--format", "hl7", "--accession", "A123", *extra)
        assert code == 0
        sent = now.sub("|T|", receiver.received[-1]).split("\r")[1:]
        assert sent == now.sub("|T|", out).split("\r")[1:]
    assert any("Edited by the reader" in segment for segment in receiver.received[-1].split("\r"))
    assert not any("Edited by the reader" in segment for segment in receiver.received[0].split("\r"))
    assert "Compared with 2025-11-20" in receiver.received[0]  # the follow-up paragraph
    assert receiver.received[0] != receiver.received[-1]


def test_baseline_sr_needs_compare_and_a_dicom_destination(cli, study_file, receiver, tmp_path):
    code, _, err = send(cli, study_file, receiver, "--baseline-sr", tmp_path / "x.dcm")
    assert code == 1 and "--baseline-sr: is for DICOM" in error_line(err)
    code, _, err = cli("send", study_file, "--to", "dicom://A@127.0.0.1:9", "--outbox", receiver.outbox,
                       "--baseline-sr", tmp_path / "x.dcm")
    assert code == 1 and "give --compare" in error_line(err)
    assert receiver.received == [] and pending(receiver.outbox) == []


def test_unwritable_outbox_sends_nothing(cli, study_file, receiver, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = cli("send", study_file, "--to", receiver.url, "--accession", "A", "--outbox", tmp_path / "file")
    assert code == 1 and "outbox" in error_line(err)
    code, _, err = cli("send", study_file, "--to", receiver.url, "--accession", "A", "--outbox", tmp_path / "file" / "box")
    assert code == 1 and "cannot create the outbox folder" in error_line(err)
    assert receiver.received == []
