"""`fastmlp train` with its defaults against scikit-learn's MLP defaults on small tables.

    python bench/cli_tables.py [--seeds 5]

For each of scikit-learn's bundled tables (breast_cancer, wine, iris, digits, diabetes)
and each seed: a stratified 80/20 split (train_test_split), `fastmlp train train.csv
--target target` with no other option, `fastmlp predict` on test.csv, and on the same
split scikit-learn's MLPClassifier / MLPRegressor with default settings after a
StandardScaler (and, for diabetes, also with the target standardized by a
TransformedTargetRegressor, as fastmlp does).  Prints the mean held-out accuracy or R²
over the seeds, and the mean number of epochs fastmlp ran.  A quality comparison, not a
timing one.
"""
import argparse
import contextlib
import csv
import io
import os
import tempfile
import warnings

import numpy as np
from sklearn import datasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp.cli import main

TABLES = ["breast_cancer", "wine", "iris", "digits", "diabetes"]


def fastmlp_cli(folder, test, regression):
    """Train with the defaults on train.csv; the held-out score and the epochs run."""
    model, preds = os.path.join(folder, "m.npz"), os.path.join(folder, "p.csv")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", os.path.join(folder, "train.csv"), "--target", "target",
                     "--out", model]) == 0
        assert main(["predict", model, os.path.join(folder, "test.csv"), "--out", preds]) == 0
    with open(preds) as f:
        predicted = [row[0] for row in list(csv.reader(f))[1:]]
    truth = test["target"].to_numpy()
    score = (r2_score(truth, np.array(predicted, float)) if regression
             else np.mean(np.array(predicted) == truth.astype(str)))
    return score, fastmlp.Network.load(model).training["epochs_run"]


def sklearn_scores(train, test, regression, seed):
    X, y = train.drop(columns="target"), train["target"]
    Xt, yt = test.drop(columns="target"), test["target"]
    make = MLPRegressor if regression else MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = make_pipeline(StandardScaler(), make(random_state=seed)).fit(X, y).score(Xt, yt)
        if not regression:
            return plain, None
        scaled = TransformedTargetRegressor(make_pipeline(StandardScaler(),
                                                          make(random_state=seed)),
                                            transformer=StandardScaler())
        return plain, scaled.fit(X, y).score(Xt, yt)


def main_bench():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    seeds = range(parser.parse_args().seeds)
    print(f"held-out score, mean over {len(seeds)} 80/20 splits (accuracy; R² for diabetes)")
    print(f"{'table':<14} {'fastmlp train':>13} {'epochs':>7} {'sklearn MLP':>12} "
          f"{'sklearn, y scaled':>18}")
    for name in TABLES:
        regression = name == "diabetes"
        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        frame = bunch.frame
        if name == "iris":
            frame = frame.assign(target=bunch.target_names[bunch.target])
        ours, epochs, plain, scaled = [], [], [], []
        for seed in seeds:
            train, test = train_test_split(frame, test_size=0.2, random_state=seed,
                                           stratify=None if regression else frame["target"])
            with tempfile.TemporaryDirectory() as folder:
                train.to_csv(os.path.join(folder, "train.csv"), index=False)
                test.to_csv(os.path.join(folder, "test.csv"), index=False)
                score, n_epochs = fastmlp_cli(folder, test, regression)
            ours.append(score)
            epochs.append(n_epochs)
            a, b = sklearn_scores(train, test, regression, seed)
            plain.append(a)
            scaled.append(b)
        extra = f"{np.mean(scaled):18.3f}" if regression else f"{'':>18}"
        print(f"{name:<14} {np.mean(ours):13.3f} {np.mean(epochs):7.0f} "
              f"{np.mean(plain):12.3f} {extra}")


if __name__ == "__main__":
    main_bench()
