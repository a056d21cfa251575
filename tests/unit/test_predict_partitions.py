"""How `mlops predict --cluster` cuts a Parquet file into partitions (from row-group sizes only)."""

from __future__ import annotations

import pytest

from mlops.errors import DataError
from mlops.predict.partitioned import MIN_PARTITION_ROWS, default_partition_rows, plan_partitions


def _covered(plan: list) -> list[int]:  # type: ignore[type-arg]
    return [part.first + i for part in plan for i in range(part.rows)]


def test_small_row_groups_are_gathered_in_file_order() -> None:
    plan = plan_partitions([100] * 10, 250)
    assert [p.rows for p in plan] == [300, 300, 300, 100]
    assert [p.first for p in plan] == [0, 300, 600, 900]
    assert plan[1].pieces == ((3, 0, 100), (4, 0, 100), (5, 0, 100))
    assert [p.index for p in plan] == [0, 1, 2, 3]
    assert _covered(plan) == list(range(1000))


def test_a_big_row_group_is_cut_into_slices() -> None:
    plan = plan_partitions([50, 1000, 50, 0, 50], 300)
    assert [p.pieces for p in plan] == [
        ((0, 0, 50),),
        ((1, 0, 250),),
        ((1, 250, 500),),
        ((1, 500, 750),),
        ((1, 750, 1000),),
        ((2, 0, 50), (4, 0, 50)),  # an empty row group is skipped, rows stay numbered
    ]
    assert [p.first for p in plan] == [0, 50, 300, 550, 800, 1050]
    assert _covered(plan) == list(range(1150))


def test_no_rows_no_partitions_and_sizes_are_checked() -> None:
    assert plan_partitions([0, 0], 10) == []
    with pytest.raises(DataError, match="at least 1 row"):
        plan_partitions([10], 0)


def test_default_size_gives_each_worker_several_partitions() -> None:
    assert default_partition_rows(10_000_000, 2) == 1_250_000
    assert default_partition_rows(1_000, 2) == MIN_PARTITION_ROWS
