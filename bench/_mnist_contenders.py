"""The three contenders' training runs, each inside its own worker process: fastmlp's
``Network.fit``, a plain PyTorch loop and scikit-learn's ``MLPClassifier``, on the workload
described in bench/mnist.py.  Each imports its library only when it is called.
"""
import time

import numpy as np

from _mnist import MONITOR, peak_rss_mb, rss_now_mb

SIZES = [784, 512, 256, 10]
BATCH = 128
LR = 1e-3


def train_fastmlp(X, y, Xt, yt, epochs, seed):
    import fastmlp
    rss = [rss_now_mb(), peak_rss_mb()]                 # after imports + data
    net = fastmlp.Network(SIZES, activation="relu", loss="cross_entropy", seed=seed)
    rss.append(rss_now_mb())                            # model built: training starts
    mon = MONITOR.snapshot()
    t0 = time.perf_counter()
    net.fit(X, y, epochs=epochs, batch_size=BATCH, optimizer="adam", lr=LR, seed=seed,
            standardize=False)
    seconds = time.perf_counter() - t0
    others = MONITOR.foreign(mon, MONITOR.snapshot())
    acc = float((net.predict(Xt) == yt).mean())
    return dict(seconds=seconds, accuracy=acc, others=others, rss=rss,
                version=fastmlp.__version__)


def train_torch(X, y, Xt, yt, epochs, seed):
    import torch
    from torch import nn
    rss = [rss_now_mb(), peak_rss_mb()]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(),
                          nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                          nn.Linear(SIZES[2], SIZES[3]))
    lossf = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    Xs, ys = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    n = Xs.shape[0]
    rss.append(rss_now_mb())     # note: the first torch.optim.Adam imports torch._dynamo
    mon = MONITOR.snapshot()
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = lossf(model(Xs[idx]), ys[idx])
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    others = MONITOR.foreign(mon, MONITOR.snapshot())
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(Xt)).argmax(dim=1).numpy()
    return dict(seconds=seconds, accuracy=float((pred == yt).mean()), others=others, rss=rss,
                version=torch.__version__, threads=torch.get_num_threads())


def train_sklearn(X, y, Xt, yt, epochs, seed):
    import warnings
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    rss = [rss_now_mb(), peak_rss_mb()]
    clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), activation="relu",
                        solver="adam", alpha=0.0, batch_size=BATCH, learning_rate_init=LR,
                        beta_1=0.9, beta_2=0.999, epsilon=1e-8, max_iter=epochs,
                        shuffle=True, early_stopping=False, tol=0.0,
                        n_iter_no_change=10 ** 6, random_state=seed)
    rss.append(rss_now_mb())       # sklearn builds its weights inside fit
    mon = MONITOR.snapshot()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)    # expected: max_iter reached
        clf.fit(X, y)
    seconds = time.perf_counter() - t0
    others = MONITOR.foreign(mon, MONITOR.snapshot())
    acc = float((clf.predict(Xt) == yt).mean())
    return dict(seconds=seconds, accuracy=acc, others=others, rss=rss,
                version=sklearn.__version__, epochs_run=int(clf.n_iter_),
                dtype=str(clf.coefs_[0].dtype))


TRAINERS = {"fastmlp": train_fastmlp, "torch": train_torch, "sklearn": train_sklearn}
