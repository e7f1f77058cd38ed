"""fastmlp.datasets.load_csv and save_csv: round trips, the csv module's quoting, and
errors that name the file, the line and the column.

References are independent of the package: the files are written with the csv module or
as literal text.
"""
import csv
import os

import numpy as np
import pytest

from fastmlp import datasets


def write_rows(path, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_round_trip_with_save_csv(tmp_path, rng):
    X = rng.standard_normal((50, 4)) * 10.0 ** rng.integers(-20, 20, (50, 4))
    y = rng.integers(0, 3, 50)
    path = tmp_path / "data.csv"
    datasets.save_csv(path, X, y, feature_names=["a", "b c", "d,e", 'q"uote'], target_name="cls")
    X2, y2, names = datasets.load_csv(path, target="cls")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.float64 and y2.dtype == np.float64
    assert names == ["a", "b c", "d,e", 'q"uote']
    with open(path, newline="") as f:                   # independently: the header row
        assert next(csv.reader(f)) == ["a", "b c", "d,e", 'q"uote', "cls"]


def test_csv_round_trip_float32(tmp_path, rng):
    X = rng.standard_normal((20, 3)).astype(np.float32)
    path = tmp_path / "f32.csv"
    datasets.save_csv(path, X, y=X[:, 0] * 2, target_name="t")
    X2, y2, names = datasets.load_csv(path, target="t", dtype=np.float32)
    assert X2.dtype == np.float32 and names == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, X[:, 0] * 2)


def test_csv_written_with_csv_module(tmp_path):
    rows = [["age", "income", "label"], ["31", "1.5e3", "1"], [" 40", "-0.25", "0"],
            ["27", "7", "1"]]
    path = write_rows(tmp_path / "people.csv", rows, delimiter=";")
    X, y, names = datasets.load_csv(path, target="label", delimiter=";")
    np.testing.assert_array_equal(X, [[31, 1500], [40, -0.25], [27, 7]])
    np.testing.assert_array_equal(y, [1, 0, 1])
    assert names == ["age", "income"]
    # by index, positive and negative
    for target in (0, -3):
        X, y, names = datasets.load_csv(path, target=target, delimiter=";")
        np.testing.assert_array_equal(y, [31, 40, 27])
        np.testing.assert_array_equal(X, [[1500, 1], [-0.25, 0], [7, 1]])
        assert names == ["income", "label"]
    # no target: every column is a feature
    X, y, names = datasets.load_csv(path, delimiter=";")
    assert y is None and X.shape == (3, 3) and names == ["age", "income", "label"]


def test_csv_quoted_fields_bom_and_blank_lines(tmp_path):
    text = '\ufeff"a","b"\n\n"1","2"\n3,"4"\n\n'
    X, y, names = datasets.load_csv(write_text(tmp_path / "q.csv", text), target="b")
    assert names == ["a"]
    np.testing.assert_array_equal(X, [[1], [3]])
    np.testing.assert_array_equal(y, [2, 4])


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    rows = [["id", "age", "score"], ["1", "30", "2.5"], ["2", "abc", "3.5"]]
    path = write_rows(tmp_path / "data.csv", rows)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="score")
    assert str(info.value) == f"{path}: line 3, column 'age': 'abc' is not a number"


@pytest.mark.parametrize("cell, phrase", [
    ("", "empty cell a missing value"), ("  ", "empty cell"), ("nan", "'nan' is a missing value"),
    ("NA", "'NA' is a missing value; drop such rows"),
    ("-inf", "'-inf' is not a finite number"), ("1,5", "'1,5' is not a number"),
    ("0x10", "'0x10' is not a number"),
])
def test_csv_bad_cells(tmp_path, cell, phrase):
    rows = [["x", "y"], ["1", "2"], ["3", "4"], ["5", cell], ["7", "8"]]
    path = write_rows(tmp_path / "cells.csv", rows)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path)
    assert f"{path}: line 4, column 'y': " in str(info.value)
    assert phrase in str(info.value)


def test_csv_line_numbers_count_blank_lines_and_multiline_records(tmp_path):
    # line 1 header, 2 blank, 3-4 one record (a quoted field spanning two lines), 5 bad
    text = 'a,b\n\n"1\n",2\n3,x\n'
    path = write_text(tmp_path / "lines.csv", text)
    with pytest.raises(ValueError, match=r"line 5, column 'b': 'x' is not a number"):
        datasets.load_csv(path)


@pytest.mark.parametrize("row, found", [(["1"], 1), (["1", "2", "3"], 3)])
def test_csv_wrong_field_count(tmp_path, row, found):
    path = write_rows(tmp_path / "ragged.csv", [["a", "b"], ["1", "2"], row, ["5", "6"]])
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path)
    assert str(path) in str(info.value)
    assert f"line 3: expected 2 fields (one per header column), found {found}" in str(info.value)


def test_csv_unknown_target_lists_columns(tmp_path):
    path = write_rows(tmp_path / "t.csv", [["age", "income"], ["1", "2"]])
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="price")
    msg = str(info.value)
    assert str(path) in msg and "'price'" in msg and "'age', 'income'" in msg
    with pytest.raises(ValueError, match="index 2 is out of range for 2 columns"):
        datasets.load_csv(path, target=2)
    with pytest.raises(TypeError):
        datasets.load_csv(path, target=1.0)


@pytest.mark.parametrize("text, phrase", [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("a,b\n", "header row but no data rows"),
    ("a,b\n\n", "header row but no data rows"),
    ("a,a\n1,2\n", "'a' appears more than once"),
    ("a,,c\n1,2,3\n", "column 2 has an empty name"),
    ("only\n1\n", "no feature columns"),
])
def test_csv_structure_errors(tmp_path, text, phrase):
    path = write_text(tmp_path / "s.csv", text)
    with pytest.raises(ValueError) as info:
        datasets.load_csv(path, target="only" if "only" in text else None)
    assert str(path) in str(info.value) and phrase in str(info.value)


def test_csv_text_labels_as_the_target(tmp_path):
    rows = [["a", "b", "kind"], ["1", "2", "setosa"], ["3", "4", " virginica "],
            ["5", "6", "3"]]
    X, y, names = datasets.load_csv(write_rows(tmp_path / "t.csv", rows), target="kind")
    assert y.dtype.kind == "U" and y.tolist() == ["setosa", "virginica", "3"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="line 2, column 'kind': 'setosa' is not a number"):
        datasets.load_csv(tmp_path / "t.csv")                     # a text feature


def test_csv_several_targets(tmp_path):
    rows = [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]
    path = write_rows(tmp_path / "m.csv", rows)
    X, y, names = datasets.load_csv(path, target=["c", "a"])
    np.testing.assert_array_equal(y, [[3, 1], [6, 4]])
    assert names == ["b"] and X.shape == (2, 1)
    X, y, names = datasets.load_csv(path, target=["c"])           # a list: 2-D y
    assert y.shape == (2, 1)
    with pytest.raises(ValueError, match="distinct columns"):
        datasets.load_csv(path, target=["a", "a"])


def test_csv_missing_values_dropped_with_a_warning(tmp_path):
    rows = [["a", "b"], ["1", "2"], ["NA", "4"], ["5", ""], ["7", "n/a"], ["9", "?"],
            ["11", "12"]]
    path = write_rows(tmp_path / "na.csv", rows)
    with pytest.warns(UserWarning, match="left out 4 row"):
        X, y, names = datasets.load_csv(path, target="b", missing="drop")
    np.testing.assert_array_equal(X[:, 0], [1, 11])
    np.testing.assert_array_equal(y, [2, 12])
    with pytest.raises(ValueError, match="line 3, column 'a': 'NA' is a missing value"):
        datasets.load_csv(path)
    with pytest.raises(ValueError, match="missing must be"):
        datasets.load_csv(path, missing="mean")


def test_csv_pandas_index_column(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5], "y": [1, 0, 1]}, index=[7, 2, 9])
    frame.to_csv(tmp_path / "p.csv")                      # header ",x,y"
    with pytest.warns(UserWarning, match="pandas index column"):
        X, y, names = datasets.load_csv(tmp_path / "p.csv", target="y")
    assert names == ["x"] and X[:, 0].tolist() == [0.5, 1.5, 2.5]
    # an unnamed first column that is not an index (repeated values) is refused
    write_text(tmp_path / "q.csv", ",x\n1,2\n1,3\n")
    with pytest.raises(ValueError, match="column 1 has an empty name"):
        datasets.load_csv(tmp_path / "q.csv")


def test_csv_delimiter_from_the_file_name(tmp_path):
    path = write_text(tmp_path / "t.tsv", "a\tb\n1\t2\n3\t4\n")
    X, y, names = datasets.load_csv(path, target="b", delimiter=None)
    np.testing.assert_array_equal(X, [[1], [3]])
    assert names == ["a"]


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_csv(tmp_path / "absent.csv")
    assert "absent.csv" in str(info.value)


def test_save_csv_rejects_bad_input(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(ValueError, match="NaN"):
        datasets.save_csv(path, np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2 names for the 3 columns of X"):
        datasets.save_csv(path, np.zeros((2, 3)), feature_names=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        datasets.save_csv(path, np.zeros((2, 3)), y=np.zeros(3))
    with pytest.raises(ValueError, match="target_name: column name 'target' appears more"):
        datasets.save_csv(path, np.zeros((2, 1)), y=[1, 2], feature_names=["target"])


@pytest.mark.parametrize("kw, error, match", [
    ({"feature_names": 3.5}, TypeError, "feature_names must be a sequence"),
    ({"feature_names": np.array("ab")}, TypeError, "feature_names must be a sequence"),
    ({"feature_names": [None, "b"]}, TypeError, "feature_names must hold strings"),
    ({"feature_names": ["a", "a"]}, ValueError, "feature_names: column name 'a'"),
    ({"target_name": None}, TypeError, "target_name must be a str"),
    ({"target_name": ""}, ValueError, "target_name: column 3 has an empty name"),
    ({"delimiter": ";;"}, TypeError, "delimiter must be one character"),
    ({"delimiter": '"'}, TypeError, "delimiter must be one character"),
    ({"X": [[1.0, 2.0], [3.0]]}, ValueError, "X is ragged"),
])
def test_save_csv_names_the_bad_argument_and_leaves_the_file(tmp_path, kw, error, match):
    path = tmp_path / "out.csv"
    path.write_text("before\n")
    args = {"X": np.zeros((2, 2)), "y": [0, 1], **kw}
    with pytest.raises(error, match=match):
        datasets.save_csv(path, **args)
    assert path.read_text() == "before\n"
    if "feature_names" in kw:           # integer column labels (a DataFrame's) are names
        datasets.save_csv(path, np.zeros((2, 2)), feature_names=np.array([0, 1]))
        assert path.read_text().splitlines()[0] == "0,1"


def test_csv_read_with_the_wrong_delimiter_says_so(tmp_path):
    path = write_rows(tmp_path / "semi.csv", [["a", "b", "y"], ["1", "2", "0"]])
    with pytest.raises(ValueError, match=r"no column named 'y' \(the target\).*with "
                                         r"delimiter=';' the header is one column; is the "
                                         r"file separated by ','\?"):
        datasets.load_csv(path, target="y", delimiter=";")
    with pytest.raises(ValueError, match=r"line 2: expected 2 fields .* found 1 \(with "
                                         r"delimiter='a' the header has the columns '', "
                                         r"',b,y'; is the file separated by ','\?"):
        datasets.load_csv(path, delimiter="a")
    with pytest.raises(TypeError, match="delimiter must be one character"):
        datasets.load_csv(path, delimiter="\n")


def test_csv_100k_rows_round_trip(tmp_path, rng):
    X = rng.standard_normal((100_000, 19))
    y = rng.integers(0, 10, 100_000)
    path = tmp_path / "big.csv"
    datasets.save_csv(path, X, y)
    X2, y2, names = datasets.load_csv(path, target="target")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("column,cell", [("b", "1e300"), ("b", "-3.5e38"), ("y", "4e38")])
def test_csv_cells_beyond_float32_are_refused_for_float32(tmp_path, column, cell):
    """A cell that float32 cannot hold would turn into infinity: the error names the
    file, the line and the column; float64 reads the same file."""
    rows = [["a", "b", "y"], ["1", "2", "0.5"], ["3", "4", "1.5"]]
    rows[2][rows[0].index(column)] = cell
    path = write_rows(tmp_path / "big.csv", rows)
    for target in ("y", None):
        with pytest.raises(ValueError, match=rf"big\.csv: line 3, column '{column}': .*"
                                             r"beyond the largest float32"):
            datasets.load_csv(path, target=target, dtype=np.float32)
    X, y, _ = datasets.load_csv(path, target="y", dtype=np.float64)
    assert float(cell) in np.concatenate([X.ravel(), y])


def test_csv_float32_keeps_the_largest_finite_values(tmp_path):
    top = float(np.finfo(np.float32).max)
    path = write_rows(tmp_path / "edge.csv", [["a", "y"], [repr(top), "1"], ["-1e-50", "0"]])
    X, y, _ = datasets.load_csv(path, target="y", dtype=np.float32)
    assert X[0, 0] == np.float32(top) and np.all(np.isfinite(X))
    assert X[1, 0] == 0.0                   # below float32's range: rounds to zero


# ---------------------------------------------------------------------------
# Damaged files: a finite table or a ValueError naming the file, nothing else
# ---------------------------------------------------------------------------

N_DAMAGED = int(os.environ.get("FASTMLP_FUZZ_FILES", "150"))
GOOD_CSV = b'a,b,c,target\n1,2,3,0\n4.5,-1e-3,6,1\n7,8,9e2,0\n"10",11 , 12,1\n'
# pieces spliced into the good file: separators, quotes, line ends, bytes that are not
# UTF-8, numbers beyond float32 and float64, missing-value markers, long fields
PIECES = [b"\x00", b"\xff", b"\xef\xbb\xbf", b'"', b",", b"\n", b"\r", b"\r\n", b"1e400",
          b"-1e400", b"1e300", b"3.5e38", b"nan", b"inf", b"NA", b"", b" ", b"\t",
          b"x" * 200_000, b"1" * 5000, b"0x10", b"1_000", b"\xe2\x80\xa8", b"\x85", b"\x0c",
          b"\xd8\x00", b"1e-400", b"+", b".", b"'", b"\\"]


def _damaged(rng):
    data = bytearray(GOOD_CSV)
    for _ in range(rng.integers(1, 5)):
        at = int(rng.integers(0, len(data) + 1))
        kind = rng.integers(4)
        if kind == 0:
            data[at:at] = PIECES[rng.integers(len(PIECES))]
        elif kind == 1:
            del data[at:at + int(rng.integers(1, 6))]
        elif kind == 2 and data:
            data[min(at, len(data) - 1)] = int(rng.integers(256))
        else:
            data[at:at + int(rng.integers(0, 4))] = PIECES[rng.integers(len(PIECES))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_damaged_csv_files_load_finite_or_raise_naming_the_file(tmp_path):
    rng = np.random.default_rng(2026)
    path = tmp_path / "damaged.csv"
    options = [{}, {"target": "target"}, {"target": -1, "dtype": np.float32},
               {"target": 0, "missing": "drop"}, {"target": ["a", "b"], "dtype": np.float32}]
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(N_DAMAGED):
        path.write_bytes(_damaged(rng))
        for kw in options:
            try:
                X, y, names = datasets.load_csv(path, **kw)
            except ValueError as exc:
                assert str(path) in str(exc), f"{kw}: {exc} (file {path.read_bytes()[:200]!r})"
                outcomes["refused"] += 1
                continue
            assert X.dtype == kw.get("dtype", np.float64) and np.isfinite(X).all()
            assert X.shape[1] == len(names) >= 1
            if y is not None and y.dtype.kind == "f":
                assert np.isfinite(y).all()
            outcomes["loaded"] += 1
    assert outcomes["loaded"] and outcomes["refused"]      # both outcomes were exercised
