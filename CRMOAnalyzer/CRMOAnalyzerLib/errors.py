"""Errors the user sees: one line naming the file and the problem."""

from __future__ import annotations

from os import PathLike


class CRMOInputError(ValueError):
    """Bad input: ``str(error)`` is ``"<file>: <problem>"``, one line, ready to print.

    Parameters
    ----------
    path: str | PathLike | None
        The file (or node, or argument) the problem is in.
    problem: str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path: str | PathLike | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, always
        super().__init__(self.problem if self.path is None else f"{self.path}: {self.problem}")
