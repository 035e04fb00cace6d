"""Sending from the panel: the report to the RIS, the SR and SEG to the PACS, through the outbox; destinations remembered.

A part of :class:`~.panel_logic.PanelLogic` (which holds the state these methods use)."""

import os
from typing import Optional

import slicer
from slicer.i18n import tr as _

#: Slicer setting holding the destinations the reader sent to (most recent first), and how many are kept
DESTINATIONS_SETTING = "CRMOAnalyzer/SendDestinations"
DESTINATIONS_KEPT = 10


class SendMixin:
    """Sending from the panel (a part of the panel's logic)."""

    # -- sending to the RIS and the PACS, through the outbox --
    def send(self, destination: str, accession: str = "", dicomDir: str = "", timeout: Optional[float] = None) -> str:
        """Send the report (``mllp://``: HL7 ORU^R01 with the text the panel shows) or the SR and SEG (``dicomweb+http://``,
        ``dicom://``) and wait for acceptance; every item stays in the outbox until accepted. Returns a status message."""
        self.ensureRequirements()
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.send import DEFAULT_TIMEOUT
        from CRMOAnalyzerLib.send.deliver import queue_study, send_all

        if self.study is None:
            return "!" + _("Nothing to send yet: press Analyze (or load a study) first.")
        if not destination:
            return "!" + _("Give a destination: mllp://HOST:PORT, dicomweb+http://HOST:PORT/dicom-web or dicom://AET@HOST:PORT.")
        outbox = self.outbox()
        try:
            labelmap = None
            if not destination.lower().startswith("mllp") and self.lesionNode is not None:
                labelmap = self._mrml().lesion_voxels(self.lesionNode)
            items = queue_study(self.study, destination, outbox, where=_("the panel's study"), text=self.reportText() or None,
                                accession=(accession or "").strip() or None, comparison=self.comparison,
                                dicom_dir=dicomDir or None, labelmap=labelmap)
            failures = send_all(outbox, items, timeout or DEFAULT_TIMEOUT)
        except CRMOInputError as error:
            return "!" + str(error)
        if failures:
            return "!" + _("{failed} of {count} not accepted ({problem}); kept in the outbox.").format(
                failed=len(failures), count=len(items), problem=failures[0][1])
        self.rememberDestination(destination)
        return _("Sent to {destination}: {count} accepted.").format(destination=destination, count=len(items))

    def savedDestinations(self) -> list:
        """The destinations the reader sent to, most recent first (kept in Slicer's settings between sessions)."""
        value = slicer.app.settings().value(DESTINATIONS_SETTING) or []
        return [value] if isinstance(value, str) else list(value)  # a list of one reads back as its item

    def rememberDestination(self, destination: str) -> None:
        """Keep ``destination`` first among the :data:`DESTINATIONS_KEPT` most recent."""
        destinations = [destination] + [d for d in self.savedDestinations() if d != destination]
        slicer.app.settings().setValue(DESTINATIONS_SETTING, destinations[:DESTINATIONS_KEPT])

    def outbox(self):
        """The outbox the panel sends through (``$CRMO_OUTBOX``, else ``~/.crmo-analyzer/outbox``, as the command line)."""
        from CRMOAnalyzerLib.send.outbox import Outbox, default_outbox

        return Outbox(default_outbox())

    def outboxSummary(self) -> str:
        """One line for the panel: what waits in the outbox, and the last error of the first item."""
        items, broken = self.outbox().pending()
        unreadable = _(" {count} unreadable (crmo-analyzer outbox lists them).").format(count=len(broken)) if broken else ""
        if not items:
            return (_("Outbox: no item to send.") + unreadable) if broken else _("Outbox: empty.")
        first = items[0]
        return _("Outbox: {count} waiting, e.g. {what} for {destination} ({error}).").format(
            count=len(items), what=first.description or first.path.name, destination=first.destination,
            error=first.last_error or _("not sent yet")) + unreadable

    def retryOutbox(self, timeout: Optional[float] = None) -> str:
        """Send every waiting item again, unchanged; returns a status message."""
        from CRMOAnalyzerLib.send import DEFAULT_TIMEOUT
        from CRMOAnalyzerLib.send.deliver import send_all

        outbox = self.outbox()
        items, _broken = outbox.pending()
        if not items:
            return self.outboxSummary()
        failures = send_all(outbox, items, timeout or DEFAULT_TIMEOUT)
        if failures:
            return "!" + _("{failed} of {count} still not accepted ({problem}).").format(
                failed=len(failures), count=len(items), problem=failures[0][1])
        return _("Outbox sent: {count} accepted.").format(count=len(items))

    def _lesionVoxelsFile(self, folder: str) -> Optional[str]:
        """The scene's lesion voxels as a label map file for the DICOM SEG (None for points or no node)."""
        if self.lesionNode is None:
            return None
        voxels = self._mrml().lesion_voxels(self.lesionNode)
        if voxels is None:
            return None
        from CRMOAnalyzerLib.io.images import write_image

        return str(write_image(os.path.join(folder, "lesions.nrrd"), voxels))
