#!/usr/bin/env python
"""Why Network.fit standardizes by default: test accuracy with and without it.

    python bench/standardize.py

wine (178 rows, features from 0.1 to 1,680) and breast_cancer (569 rows, 0.001 to
4,254) from scikit-learn's bundled data; for seeds 0-4, a stratified 70/30 split
(random_state=seed), Network([n_features, 64, n_classes]) ReLU, float32, Adam lr 1e-3,
batch 128, 100 epochs, seed=seed; the mean and range of the test accuracy.
Not a timing: the numbers do not depend on the machine's load.
"""
import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

from fastmlp import Network

from _common import usage_if_asked

SEEDS = range(5)


def accuracies(X, y, standardize):
    out = []
    for seed in SEEDS:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed,
                                              stratify=y)
        net = Network([X.shape[1], 64, len(np.unique(y))], seed=seed)
        net.fit(Xtr, ytr, epochs=100, batch_size=128, lr=1e-3, seed=seed,
                standardize=standardize)
        out.append(net.score(Xte, yte))
    return np.array(out)


def main():
    usage_if_asked(__doc__)
    print("test accuracy, 5 seeds: mean (min-max)")
    for name, loader in (("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        X, y = loader(return_X_y=True)
        for standardize in (False, True):
            acc = accuracies(X, y, standardize)
            print(f"{name:<14} standardize={standardize!s:<5}  {acc.mean():.1%} "
                  f"({acc.min():.1%}-{acc.max():.1%})")


if __name__ == "__main__":
    main()
