"""Lesion candidates on a STIR image, for the reader to accept or reject (marked AUTOMATIC)."""

from .detect import SCHEMA, Candidate, CandidateResult, find_candidates, rules

__all__ = ["SCHEMA", "Candidate", "CandidateResult", "find_candidates", "rules"]
