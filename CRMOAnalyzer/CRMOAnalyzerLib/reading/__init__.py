"""The reading of a study: its distribution, criteria and scores, red flags, report and comparison with a baseline,
computed once (:mod:`.read`) and taken by every consumer (panel, CLI, exports)."""
