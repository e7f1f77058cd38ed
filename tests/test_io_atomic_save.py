"""Model files (fastmlp.io): atomic saves. A crash or interrupt at any step of a save leaves
the previous file intact and no temporary file behind; the temporary file lives in the
target's directory.
"""
import os

import numpy as np
import pytest

from fastmlp import io as fio

from _io_helpers import make_net, inputs, assert_same_network


# ---------------------------------------------------------------------------
# Atomic saves
# ---------------------------------------------------------------------------

class Crash(Exception):
    pass


def _partial_savez(f, *args, **kw):
    f.write(b"PK\x03\x04 half a model ...")
    raise Crash("disk on fire")


def _raise(*a, **k):
    raise Crash("boom")


@pytest.mark.parametrize("previous", [True, False], ids=["overwrite", "new_file"])
@pytest.mark.parametrize("target, crash", [
    ("savez", _partial_savez),
    ("fsync", _raise),
    ("replace", _raise),
    ("savez_interrupt", KeyboardInterrupt),
])
def test_crash_mid_save_leaves_old_file_and_no_temp(tmp_path, rng, monkeypatch, target, crash,
                                                    previous):
    path = tmp_path / "model.npz"
    old = make_net(rng, "tanh")
    if previous:
        fio.save(old, path)
        before = path.read_bytes()
    new = make_net(rng, "relu", "mse", np.float32)
    calls = []

    def crashing(*a, **k):
        calls.append(target)
        if crash is KeyboardInterrupt:
            a[0].write(b"partial")
            raise KeyboardInterrupt
        return crash(*a, **k)

    with monkeypatch.context() as m:
        if target.startswith("savez"):
            m.setattr(np, "savez", crashing)
        else:
            m.setattr(os, target, crashing)
        with pytest.raises(KeyboardInterrupt if crash is KeyboardInterrupt else Crash):
            fio.save(new, path)
    assert calls, "the crash was not triggered"
    if previous:
        assert os.listdir(tmp_path) == ["model.npz"]
        assert path.read_bytes() == before
        assert_same_network(old, fio.load(path), inputs(rng, old))
    else:
        assert os.listdir(tmp_path) == []


def test_temporary_file_is_in_the_target_directory(tmp_path, rng, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(os.path.abspath(src)), os.path.abspath(dst)))
        assert os.path.getsize(src) > 0
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "sub" / "m.npz"
    target.parent.mkdir()
    fio.save(make_net(rng), target)
    monkeypatch.undo()
    assert seen == [(str(target.parent), str(target))]
    assert os.listdir(target.parent) == ["m.npz"]


def test_save_into_missing_directory_raises_and_writes_nothing(tmp_path, rng):
    with pytest.raises(FileNotFoundError):
        fio.save(make_net(rng), tmp_path / "nope" / "m.npz")
    assert os.listdir(tmp_path) == []
