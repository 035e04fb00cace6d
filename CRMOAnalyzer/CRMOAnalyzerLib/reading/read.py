"""The reading of a study: everything derived from it, computed once and taken by every consumer.

A :class:`Reading` holds one state of a study and derives, each at most once and only when asked: the distribution
(through the :class:`~.conditions.Context` the scores and red flags share), the scores and criteria, the red flags,
the report in its two parts and its text, and the comparison with a baseline. The panel, the CLI and every export
take a reading; none of them derives these again. A changed study is a new reading (:func:`read`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..model import Study, save_study
from .conditions import Context

if TYPE_CHECKING:
    from .compare import Comparison
    from .distribution import Distribution
    from .redflags import RedFlags
    from .report import ReportParts
    from .scores import ScoreResult

__all__ = ["Reading", "read", "as_reading", "render_report"]


@dataclass(frozen=True, eq=False)
class Reading:
    """One state of a study and what is derived from it (each derived at most once, when first asked).

    Attributes
    ----------
    study: Study
        The exam as read (do not change it: a changed study is a new reading).
    comparison: Comparison | None
        The comparison with the baseline exam, for the follow-up paragraph and the exports that carry it.
    baseline: Study | None
        The baseline exam itself (the research export de-identifies it too).
    weights: dict | str | PathLike | None
        EULAR/ACR 2025 item weights (not bundled), for that score's points.
    edited_text: str | None
        The reader's edited report text, which every export sends instead of the generated one.
    """

    study: Study
    comparison: Comparison | None = None
    baseline: Study | None = None
    weights: Any = None
    edited_text: str | None = None

    @cached_property
    def context(self) -> Context:
        """The distribution and lesion facts the scores and red flags share."""
        return Context(self.study)

    @property
    def distribution(self) -> Distribution:
        return self.context.distribution

    @property
    def labels(self) -> dict[str, str]:
        """Lesion id -> label ("#3")."""
        return self.context.labels

    @cached_property
    def scores(self) -> list[ScoreResult]:
        """Every bundled score and criterion (:func:`~.scores.evaluate_all`)."""
        from .scores import evaluate_all  # noqa: PLC0415

        return evaluate_all(self.context, self.weights)

    @cached_property
    def red_flags(self) -> RedFlags:
        from .redflags import red_flags  # noqa: PLC0415

        return red_flags(self.context)

    @cached_property
    def parts(self) -> ReportParts:
        """The generated report: the signed part and the DECISION SUPPORT section."""
        from .report import render_parts  # noqa: PLC0415

        return render_parts(self)

    @property
    def generated_text(self) -> str:
        return self.parts.text

    @property
    def text(self) -> str:
        """The report text every consumer sends: the reader's edit when there is one, else the generated text."""
        return self.edited_text if self.edited_text is not None else self.parts.text

    @cached_property
    def document(self) -> dict[str, Any]:
        """``study.json``'s content: the study with its labels and distribution."""
        return self.study.to_dict(self.distribution.to_dict())

    def save(self, path: str | os.PathLike) -> None:
        """Write ``study.json`` atomically, with the distribution."""
        save_study(self.study, path, self.distribution.to_dict())


def read(study: Study, comparison: Comparison | None = None, *, baseline: Study | None = None, weights: Any = None,
         text: str | None = None, force: bool = False, sources: tuple[str, str] = ("", "")) -> Reading:
    """The reading of ``study``; with a ``baseline`` (and no ``comparison``) the two are compared here.

    ``force`` and ``sources`` go to :func:`~.compare.compare_studies` (a different patient is refused unless forced).
    """
    if baseline is None or comparison is not None:
        return Reading(study, comparison, baseline, weights, text)
    from .compare import compare_studies  # noqa: PLC0415

    context = Context(study)
    reading = Reading(study, compare_studies(baseline, study, force=force, sources=sources, contexts=(None, context)),
                      baseline, weights, text)
    reading.__dict__["context"] = context  # the comparison's CROMRIS used it: the reading keeps it (computed once)
    return reading


def as_reading(study_or_reading: Study | Reading, comparison: Comparison | None = None,
               text: str | None = None, weights: Any = None) -> Reading:
    """A reading given, or the reading of a study (with this comparison, edited text and EULAR/ACR weights)."""
    if isinstance(study_or_reading, Reading):
        return study_or_reading
    return Reading(study_or_reading, comparison, weights=weights, edited_text=text)


def render_report(study: Study, comparison: Comparison | None = None, weights: Any = None) -> str:
    """The generated report text of a study: the signed report, then DECISION SUPPORT (:attr:`Reading.parts`).

    ``comparison`` (:func:`~.compare.compare_studies`) adds the FOLLOW-UP paragraph; ``weights`` the EULAR/ACR
    2025 item weights file (not bundled).
    """
    return Reading(study, comparison, weights=weights).generated_text
