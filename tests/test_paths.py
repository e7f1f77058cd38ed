"""File names given to fastmlp's readers and writers: a wrong type, an empty name, a
NUL character or, for writers, a directory is an error naming the argument, raised
before anything is written; a writer that fails leaves the file as it was."""
import os

import numpy as np
import pytest

from fastmlp import Network, datasets

BAD = [(None, TypeError, "path must be a file name"),
       (3.5, TypeError, "path must be a file name"),
       (["m.npz"], TypeError, "path must be a file name"),
       ("", ValueError, "path must be a non-empty file name"),
       ("a\0b.npz", ValueError, "without NUL"),
       (b"a\0b.npz", ValueError, "without NUL")]


def _net():
    return Network([3, 4, 2], seed=0)


def _writers():
    X, y = np.zeros((2, 3)), np.array([0, 1])
    out = {"Network.save": lambda p: _net().save(p),
           "save_csv": lambda p: datasets.save_csv(p, X, y)}
    try:
        import onnx  # noqa: F401
        out["to_onnx"] = lambda p: _net().to_onnx(p)
    except ImportError:
        pass
    return out


READERS = {"Network.load": Network.load, "load_csv": datasets.load_csv,
           "load_idx": datasets.load_idx}


@pytest.mark.parametrize("call", sorted(READERS) + sorted(_writers()))
@pytest.mark.parametrize("path, error, match", BAD)
def test_a_bad_file_name_is_named(tmp_path, monkeypatch, call, path, error, match):
    monkeypatch.chdir(tmp_path)
    fn = READERS.get(call) or _writers()[call]
    if call == "to_onnx" and path is None:     # no path: the model is only returned
        assert fn(path) is not None
    else:
        with pytest.raises(error, match=match):
            fn(path)
    assert os.listdir(tmp_path) == []          # nothing written, not even a temporary


@pytest.mark.parametrize("call", sorted(_writers()))
@pytest.mark.parametrize("as_dir", ["plain", "slash"])
def test_writing_to_a_directory_is_refused_before_writing(tmp_path, call, as_dir):
    folder = tmp_path / "models"
    folder.mkdir()
    path = str(folder) + ("/" if as_dir == "slash" else "")
    with pytest.raises(IsADirectoryError, match="path .* is a directory"):
        _writers()[call](path)
    assert os.listdir(folder) == [] and os.listdir(tmp_path) == ["models"]
    with pytest.raises(IsADirectoryError, match="is a directory"):
        _writers()[call](str(tmp_path / "missing") + "/")


@pytest.mark.parametrize("call", sorted(_writers()))
def test_a_writer_that_fails_leaves_the_old_file(tmp_path, monkeypatch, call):
    path = tmp_path / "out"
    path.write_bytes(b"the old file")

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        _writers()[call](path)
    assert path.read_bytes() == b"the old file"
    assert os.listdir(tmp_path) == ["out"]     # the temporary file is gone
