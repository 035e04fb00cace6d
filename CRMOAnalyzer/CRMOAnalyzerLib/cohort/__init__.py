"""Research cohorts: many studies in, frequency tables, figures and a summary out (local cores or Dask).

``run_cohort(inputs, out)`` is the entry point; ``synthetic`` makes cohorts with known answers.
"""

from .aggregate import CohortTables, aggregate, deduplicate
from .inputs import Case, Failure, collect
from .run import CohortResult, run_cohort, write_tables

__all__ = ["Case", "CohortResult", "CohortTables", "Failure", "aggregate", "collect", "deduplicate", "run_cohort",
           "write_tables"]
