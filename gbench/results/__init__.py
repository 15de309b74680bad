"""Run records, the result store, aggregation into leaderboard rows, and the one reader of results.

- `records`: `RunRecord` (one job's outcome, with a checksum of its content) and `read_record`;
- `store`: `ResultStore`, the only writer of records (atomic, never overwriting a result, keeping every attempt);
- `aggregate`: leaderboard rows from records;
- `reader`: `read_results`, a results directory or a leaderboard CSV for `compare`, `publish` and `plot`.
"""

from gbench.results.aggregate import (LEADERBOARD_COLUMNS, aggregate, group_records, headline_splits, per_unit_values,
                                      tuning_label)
from gbench.results.reader import Results, read_results
from gbench.results.records import (
    FINAL_STATUSES,
    SCHEMA_VERSION,
    Cost,
    DamagedRecord,
    RunRecord,
    Status,
    read_record,
)
from gbench.results.store import ResultStore, StoreReport, load_records

__all__ = [
    "FINAL_STATUSES", "LEADERBOARD_COLUMNS", "SCHEMA_VERSION", "Cost", "DamagedRecord", "ResultStore", "Results",
    "RunRecord", "Status", "StoreReport", "aggregate", "group_records", "headline_splits", "load_records",
    "per_unit_values", "read_record", "read_results", "tuning_label",
]
