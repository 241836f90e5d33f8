"""Derived results are stored as data (fixtures/records.py): what an analysis returns comes back equal, and a file
in the cache can describe data but never make the suite run code."""

from __future__ import annotations

import builtins
import dataclasses
import enum
import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures import records
from fixtures.storage import sha256_bytes
from fixtures.workbench import RunSettings, Workbench


@dataclasses.dataclass(frozen=True)
class Stats:
    layer: int
    values: np.ndarray
    note: str | None = None

    def __post_init__(self) -> None:  # a record must not run this
        builtins.records_post_init_ran = True  # type: ignore[attr-defined]


class Level(enum.IntEnum):
    HIGH = 2


def _local_dataclass() -> object:
    @dataclasses.dataclass
    class Local:
        x: int

    return Local(1)


def _value() -> dict:
    frame = pd.DataFrame({"layer": np.arange(3), "excess": np.array([0.1, np.nan, 0.3], dtype=np.float32)})
    return {
        "frame": frame,
        "sliced": frame.iloc[1:],
        (0, "a"): [Stats(1, np.eye(2)), None, True, 2, 2.5, float("nan")],
        3: {"text": np.str_("a"), "scalar": np.float64(0.25), "count": np.int64(7), "mask": np.array([True, False])},
        "tuple": (1, "two", np.zeros((2, 0))),
    }


def _assert_same(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # type: ignore[arg-type]
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    elif isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple))
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            _assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def test_every_kind_of_value_an_analysis_returns_comes_back_equal_with_its_types() -> None:
    builtins.records_post_init_ran = False  # type: ignore[attr-defined]
    value = _value()
    builtins.records_post_init_ran = False  # type: ignore[attr-defined]
    _assert_same(value, records.loads(records.dumps(value)))
    assert builtins.records_post_init_ran is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        print,
        np.array([object()], dtype=object),
        pd.Series([1.0]),
        {1, 2},
        Path("x"),
        Level.HIGH,
        np.ma.masked_array([1.0, 2.0], mask=[True, False]),
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
        _local_dataclass(),
    ],
    ids=["function", "object-array", "series", "set", "path", "int-enum", "masked", "nullable-column", "local-class"],
)
def test_a_value_that_is_not_data_is_refused_where_it_is_written(value: object) -> None:
    with pytest.raises(TypeError, match="derived results must be data"):
        records.dumps({"ok": 1, "bad": value})


def _forged(tree: str) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, tree=np.frombuffer(tree.encode(), dtype=np.uint8))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "tree",
    [
        '{"$dataclass": "os:system", "fields": {}}',  # a function, not a dataclass
        '{"$dataclass": "not_imported_module_xyz:Thing", "fields": {}}',  # would need an import
        '{"$dataclass": "tests.unit.test_records:Stats", "fields": {"layer": 1}}',  # fields that do not match
        '{"$array": 5}',
        '{"$call": "os.system"}',
        '{"$dict": [[1]]}',
    ],
)
def test_a_record_that_names_anything_but_known_data_is_refused(tree: str) -> None:
    with pytest.raises(records.RecordError):
        records.loads(_forged(tree))


@pytest.mark.parametrize(
    "data",
    [b"", b"PK\x03\x04 truncated zip", np.lib.format.MAGIC_PREFIX + b"\x01\x00", None],
    ids=["empty", "bad-zip", "bad-npy", "deep-json"],
)
def test_bytes_that_are_not_a_record_are_a_record_error_never_another_exception(data: bytes | None) -> None:
    if data is None:
        data = _forged("[" * 100_000 + "]" * 100_000)
    with pytest.raises(records.RecordError):
        records.loads(data)


def test_a_pickle_in_the_cache_is_not_loaded_so_its_code_never_runs() -> None:
    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (exec, ("import builtins; builtins.records_pickle_ran = True",))

    builtins.records_pickle_ran = False  # type: ignore[attr-defined]
    with pytest.raises(records.RecordError):
        records.loads(pickle.dumps(Payload()))
    assert builtins.records_pickle_ran is False  # type: ignore[attr-defined]


def test_a_derived_file_replaced_by_a_checksummed_pickle_is_recomputed_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))
    calls: list[int] = []

    def compute() -> dict:
        calls.append(1)
        return {"answer": np.arange(3)}

    Workbench(RunSettings(64, 64, 16, "cpu", "float32", 0)).derived("probe", 1, {}, compute)
    (path,) = (tmp_path / "derived").glob("probe-*.npz")
    data = pickle.dumps({"answer": "forged"})
    path.write_bytes(sha256_bytes(data).encode() + b"\n" + data)
    again = Workbench(RunSettings(64, 64, 16, "cpu", "float32", 0)).derived("probe", 1, {}, compute)
    assert calls == [1, 1]
    assert np.array_equal(again["answer"], np.arange(3))
