"""The command line on real tables (scikit-learn's bundled data sets written to CSV),
with its defaults, against scikit-learn's MLPClassifier / MLPRegressor defaults on
the same train/test splits."""
import csv
import json
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp.cli import main

pd = pytest.importorskip("pandas")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def frame(name):
    """A bundled data set as a DataFrame; iris with its species names as labels."""
    bunch = getattr(sklearn_datasets, f"load_{name}")(as_frame=True)
    df = bunch.frame.copy()
    if name == "iris":
        df["target"] = bunch.target_names[bunch.target]
    return df


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def predictions(capsys, model, data):
    """The `fastmlp predict` column for `data`, read back from its CSV output."""
    out = data.parent / "predictions.csv"
    assert run(capsys, "predict", model, data, "--out", out)[0] == 0
    with open(out) as f:
        return [row[0] for row in list(csv.reader(f))[1:]]


def split_csv(tmp_path, df, seed, stratify=True):
    train, test = train_test_split(df, test_size=0.2, random_state=seed,
                                   stratify=df["target"] if stratify else None)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return train, test


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_defaults_classify_small_tables_as_well_as_scikit_learn(tmp_path, capsys, name):
    df = frame(name)
    ours, theirs = [], []
    for seed in range(3):
        train, test = split_csv(tmp_path, df, seed)
        model = tmp_path / "m.npz"
        code, out, _ = run(capsys, "train", tmp_path / "train.csv", "--target", "target",
                           "--seed", seed, "--out", model)
        assert code == 0 and out.startswith("classification: ")
        predicted = predictions(capsys, model, tmp_path / "test.csv")
        ours.append(np.mean(np.array(predicted) == test["target"].astype(str).to_numpy()))
        X, y = train.drop(columns="target"), train["target"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = make_pipeline(StandardScaler(), MLPClassifier(random_state=seed)).fit(X, y)
        theirs.append(sk.score(test.drop(columns="target"), test["target"]))
    assert np.mean(ours) >= 0.95, (ours, theirs)
    assert np.mean(ours) >= np.mean(theirs) - 0.02, (ours, theirs)


def test_digits_with_defaults(tmp_path, capsys):
    train, test = split_csv(tmp_path, frame("digits"), 0)
    model = tmp_path / "d.npz"
    assert run(capsys, "train", tmp_path / "train.csv", "--target", "target", "--quiet",
               "--out", model)[0] == 0
    predicted = np.array(predictions(capsys, model, tmp_path / "test.csv"), dtype=int)
    assert np.mean(predicted == test["target"].to_numpy()) >= 0.95


def test_diabetes_regression_is_sane_with_a_standardized_target(tmp_path, capsys):
    df = frame("diabetes")
    ours, theirs, raw = [], [], []
    for seed in range(3):
        train, test = split_csv(tmp_path, df, seed, stratify=False)
        model = tmp_path / "r.npz"
        code, out, _ = run(capsys, "train", tmp_path / "train.csv", "--target", "target",
                           "--seed", seed, "--out", model)
        assert code == 0 and out.startswith("regression: integer target with")
        assert "target standardized" in out
        pred = np.array(predictions(capsys, model, tmp_path / "test.csv"), dtype=float)
        y = test["target"].to_numpy()
        ours.append(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        # the saved model predicts raw units by itself (the scaling is folded in)
        net = fastmlp.Network.load(model)
        np.testing.assert_allclose(net.predict(test.drop(columns="target").to_numpy())[:, 0],
                                   pred, rtol=1e-5)
        X = train.drop(columns="target")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = make_pipeline(StandardScaler(), MLPRegressor(random_state=seed))
            theirs.append(TransformedTargetRegressor(mlp, transformer=StandardScaler())
                          .fit(X, train["target"]).score(test.drop(columns="target"), y))
            raw.append(mlp.fit(X, train["target"]).score(test.drop(columns="target"), y))
    # scikit-learn's defaults on the raw target are far off (R² < 0), as fastmlp was
    assert max(raw) < 0
    assert np.mean(ours) > 0.2, (ours, theirs)
    assert np.mean(ours) >= np.mean(theirs) - 0.1, (ours, theirs)


def test_folding_the_target_scaling_into_the_output_layer():
    from fastmlp.cli_train import TargetScaling
    rng = np.random.default_rng(0)
    net = fastmlp.Network([3, 8, 2], activation="tanh", loss="mse", dtype=np.float64, seed=1)
    X = rng.standard_normal((5, 3))
    before = net.forward(X)
    scaling = TargetScaling(rng.standard_normal((40, 2)) * [10.0, 0.5] + [100.0, -3.0])
    scaling.fold(net)
    np.testing.assert_allclose(net.forward(X), before * scaling.scale + scaling.mean,
                               rtol=1e-12)


@pytest.mark.parametrize("column, task, phrase", [
    ("Pulse", "regression", "integer target with 11 values in 20 rows"),
    ("Chins", "regression", "use --task classify"),
])
def test_linnerud_integer_targets_are_regressions(tmp_path, capsys, column, task, phrase):
    bunch = sklearn_datasets.load_linnerud(as_frame=True)
    bunch.frame.to_csv(tmp_path / "l.csv", index=False)
    code, out, _ = run(capsys, "train", tmp_path / "l.csv", "--target", column,
                       "--epochs", "50", "--out", tmp_path / "l.npz")
    first = out.splitlines()[0]
    assert code == 0 and first.startswith(task) and phrase in first
    # forcing the other task
    code, out, _ = run(capsys, "train", tmp_path / "l.csv", "--target", column, "--task",
                       "classify", "--epochs", "5", "--out", tmp_path / "c.npz")
    assert code == 0 and out.startswith("classification: --task classify")
    assert fastmlp.Network.load(tmp_path / "c.npz").loss_name == "cross_entropy"


def test_several_targets_are_a_multi_output_regression(tmp_path, capsys):
    bunch = sklearn_datasets.load_linnerud(as_frame=True)
    bunch.frame.to_csv(tmp_path / "l.csv", index=False)
    targets = ["Weight", "Waist", "Pulse"]
    model = tmp_path / "l.npz"
    code, out, _ = run(capsys, "train", tmp_path / "l.csv", "--target", ",".join(targets),
                       "--out", model)
    assert code == 0 and out.startswith("regression: 3 target columns")
    net = fastmlp.Network.load(model)
    assert net.sizes[-1] == 3 and net.training["feature_names"] == ["Chins", "Situps", "Jumps"]
    out_csv = tmp_path / "p.csv"
    assert run(capsys, "predict", model, tmp_path / "l.csv", "--out", out_csv)[0] == 0
    pred = pd.read_csv(out_csv)
    assert list(pred.columns) == [f"predicted_{t}" for t in targets]
    Y = bunch.frame[targets].to_numpy()
    r2 = 1 - ((Y - pred.to_numpy()) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)
    assert r2.mean() > 0.5          # 20 rows, fitted on (all but) themselves


def test_stopping_is_reported_and_a_short_run_warns(tmp_path, capsys):
    frame("wine").to_csv(tmp_path / "wine.csv", index=False)
    code, out, err = run(capsys, "train", tmp_path / "wine.csv", "--target", "target",
                         "--out", tmp_path / "w.npz")
    assert code == 0 and err == ""
    assert "converged at epoch" in out or "stopped at epoch" in out
    code, out, err = run(capsys, "train", tmp_path / "wine.csv", "--target", "target",
                         "--epochs", "3", "--out", tmp_path / "w.npz")
    assert code == 0 and "warning: stopped at the limit of 3 epochs before converging" in err
    # a validation split on a table large enough for one
    frame("breast_cancer").to_csv(tmp_path / "bc.csv", index=False)
    code, out, err = run(capsys, "train", tmp_path / "bc.csv", "--target", "target",
                         "--out", tmp_path / "b.npz")
    assert "early stopping on 57 validation rows" in out       # 10% of 569
    assert "stopped at epoch" in out and "validation:" in out


def test_test_fraction_reports_a_held_out_score(tmp_path, capsys):
    frame("iris").to_csv(tmp_path / "iris.csv", index=False)
    model = tmp_path / "i.npz"
    code, out, _ = run(capsys, "train", tmp_path / "iris.csv", "--target", "target",
                       "--test-fraction", "0.2", "--out", model)
    assert code == 0
    test_line = [line for line in out.splitlines() if line.startswith("test:")][0]
    assert test_line.endswith("(30 rows)")                  # 10 of each class
    assert "120 rows of" in out
    accuracy = float(test_line.split("accuracy ")[1].split("%")[0]) / 100
    assert accuracy == pytest.approx(fastmlp.Network.load(model).training["test_score"],
                                     abs=1e-4)


def test_split_rows_is_a_stratified_partition():
    from fastmlp.cli_train import split_rows
    codes = np.repeat([0, 1, 2], [50, 30, 20])
    kept, held = split_rows(100, 0.2, np.random.default_rng(0), codes)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(100))
    assert np.bincount(codes[held]).tolist() == [10, 6, 4]


# -- data handling ---------------------------------------------------------------

def test_text_labels_survive_to_predict_evaluate_and_the_library(tmp_path, capsys):
    df = frame("iris")
    df.to_csv(tmp_path / "iris.csv", index=False)
    model = tmp_path / "i.npz"
    assert run(capsys, "train", tmp_path / "iris.csv", "--target", "target",
               "--out", model)[0] == 0
    predicted = predictions(capsys, model, tmp_path / "iris.csv")
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    truth = df["target"].to_numpy()
    accuracy = np.mean(np.array(predicted) == truth)
    code, out, _ = run(capsys, "evaluate", model, tmp_path / "iris.csv")
    assert code == 0
    assert float(out.split("accuracy ")[1].split("%")[0]) / 100 == pytest.approx(accuracy,
                                                                                abs=1e-4)
    net = fastmlp.Network.load(model)
    assert net.training["classes"] == ["setosa", "versicolor", "virginica"]
    idx = net.forward(df.drop(columns="target").to_numpy()).argmax(axis=1)
    assert np.array(net.training["classes"])[idx].tolist() == predicted


def test_missing_cells_are_named_or_dropped(tmp_path, capsys):
    df = frame("breast_cancer")
    df.loc[[3, 10, 11], "mean texture"] = np.nan           # pandas writes empty cells
    df.loc[20, "target"] = np.nan
    df.to_csv(tmp_path / "bc.csv", index=False)
    text = (tmp_path / "bc.csv").read_text().replace(",,", ",NA,", 1)   # row 3: NA
    (tmp_path / "bc.csv").write_text(text)
    code, _, err = run(capsys, "train", tmp_path / "bc.csv", "--target", "target",
                       "--out", tmp_path / "b.npz")
    assert code == 2
    assert "line 5, column 'mean texture': 'NA' is a missing value" in err
    assert "--drop-missing" in err
    code, out, _ = run(capsys, "train", tmp_path / "bc.csv", "--target", "target",
                       "--drop-missing", "--epochs", "2", "--out", tmp_path / "b.npz")
    assert code == 0 and "note: left out 4 row(s) with missing values" in out
    rows = [int(line.rsplit("(", 1)[1].split(" rows")[0]) for line in out.splitlines()
            if line.startswith(("train:", "validation:"))]
    assert sum(rows) == 569 - 4


def test_a_pandas_index_column_is_left_out(tmp_path, capsys):
    df = frame("wine")
    df.to_csv(tmp_path / "wine.csv")                    # index=True: an unnamed column
    model = tmp_path / "w.npz"
    code, out, _ = run(capsys, "train", tmp_path / "wine.csv", "--target", "target",
                       "--epochs", "5", "--out", model)
    assert code == 0 and "pandas index column and left out" in out
    names = fastmlp.Network.load(model).training["feature_names"]
    assert names == [c for c in df.columns if c != "target"]


@pytest.mark.parametrize("suffix, options", [(".tsv", []), (".csv", ["--delimiter", ";"])])
def test_other_delimiters(tmp_path, capsys, suffix, options):
    df = frame("iris")
    path = tmp_path / f"iris{suffix}"
    df.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ";")
    model = tmp_path / "t.npz"
    code, out, _ = run(capsys, "train", path, "--target", "target", "--epochs", "20",
                       "--out", model, *options)
    assert code == 0 and "on 150 rows of" in out
    assert fastmlp.Network.load(model).sizes[0] == 4
    assert run(capsys, "evaluate", model, path, *options)[0] == 0


def test_quiet_prints_only_the_results(tmp_path, capsys):
    frame("iris").to_csv(tmp_path / "iris.csv", index=False)
    code, out, _ = run(capsys, "train", tmp_path / "iris.csv", "--target", "target",
                       "--quiet", "--out", tmp_path / "q.npz")
    assert code == 0 and "epoch" not in out and "classification" not in out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("train:") and lines[1].startswith("saved")


def test_info_is_readable_and_json_on_request(tmp_path, capsys):
    frame("iris").to_csv(tmp_path / "iris.csv", index=False)
    model = tmp_path / "i.npz"
    assert run(capsys, "train", tmp_path / "iris.csv", "--target", "target", "--epochs",
               "5", "--out", model)[0] == 0
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and len(out.splitlines()) < 20 and max(map(len, out.splitlines())) < 120
    assert "4 -> 100 -> 3" in out and "803 parameters" in out and "float32" in out
    assert "classes     setosa, versicolor, virginica" in out
    assert "sepal length (cm)" in out and "cross_entropy" in out
    code, out, _ = run(capsys, "info", model, "--json")
    summary = json.loads(out)
    assert summary["sizes"] == [4, 100, 3] and summary["parameters"] == 4 * 100 + 100 + 303
    assert summary["training"]["classes"] == ["setosa", "versicolor", "virginica"]


def test_every_option_states_its_default():
    import argparse

    from fastmlp.cli import build_parser
    from fastmlp.cli_args import Formatter
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        formatter = Formatter(name)
        for action in command._actions:
            if (action.option_strings and action.help is not argparse.SUPPRESS
                    and action.default not in (None, False, argparse.SUPPRESS)
                    and not isinstance(action, argparse._StoreTrueAction)):
                assert "default" in formatter._get_help_string(action), (name, action.dest)


def test_plateau_counts_epochs_that_improve_by_less_than_tol():
    from fastmlp.cli_train import Plateau
    stop = Plateau(patience=3)
    # improvements: big, 5e-5 (counts), 5e-5 (counts), big (resets), then three tiny ones
    losses = [1.0, 0.5, 0.49995, 0.4999, 0.3, 0.29999, 0.29998, 0.29997]
    decisions = [stop(None, {"loss": loss}) for loss in losses]
    assert decisions == [False] * 7 + [True]
