"""A corpus of hostile model files and IDX files, written from scratch (issue 10 §5).

    python tests/hostile_files.py DIR      # writes the corpus into DIR, lists it

Every file here is invalid and must make fastmlp.io.load / fastmlp.datasets.load_idx
raise a clean ValueError quickly: no crash, no hang, no large allocation.  The
files are written byte by byte (the .npy headers and ZIP members by hand), not by
fastmlp, so the corpus does not share fastmlp's idea of the format.  Each is small
or, for the bombs, small once compressed: every load stays short by construction.

mutations(data, rng) gives random damage (bit flips, byte overwrites, truncations,
duplicated and deleted spans) of a valid file, for the mutation pass.
"""
import gzip
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

SIZES = [3, 4, 2]
N_PARAMS = (3 + 1) * 4 + (4 + 1) * 2          # 26


# -- .npy members and ZIP archives, by hand --------------------------------------------

def npy(descr, shape, data=b"", fortran=False, version=(1, 0), header=None):
    """The bytes of a .npy file: magic, version, header dict, data."""
    text = header if header is not None else repr(
        {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    size_format = "<H" if version[0] == 1 else "<I"
    fixed = 6 + 2 + struct.calcsize(size_format)
    pad = -(fixed + len(text) + 1) % 64
    text = (text + " " * pad + "\n").encode("latin1")
    return (b"\x93NUMPY" + bytes(version) + struct.pack(size_format, len(text)) + text
            + data)


def meta_dict(**changes):
    meta = {"format": "fastmlp.model", "version": 1, "sizes": SIZES,
            "activations": ["tanh", "softmax"], "alphas": [0.0, 0.0],
            "loss": "cross_entropy", "l2": 0.0, "dtype": "float64", "n_params": N_PARAMS,
            "scaler": False, "training": {}, "fastmlp_version": "hostile"}
    meta.update(changes)
    return meta


def meta_member(meta=None, text=None):
    text = json.dumps(meta if meta is not None else meta_dict()) if text is None else text
    return npy(f"<U{max(len(text), 1)}", (), text.encode("utf-32-le").ljust(4, b"\0"))


def params_member(values=None, descr="<f8"):
    arr = np.linspace(-1, 1, N_PARAMS) if values is None else np.asarray(values)
    arr = arr.astype(np.dtype(descr))
    return npy(descr, arr.shape, arr.tobytes())


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """members: [(name, bytes)]; names without '.npy' get it added."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name if "." in name else name + ".npy", data)
    return path


def valid_model(path):
    """A valid model file (the base of the mutations and of the corpus' damage)."""
    return write_zip(path, [("meta", meta_member()), ("params", params_member())])


def zeros_member(zf, name, header_bytes, n_zeros):
    """A deflated member: header_bytes, then n_zeros zero bytes (streamed: a bomb
    compresses 1000:1 and is never held in memory here)."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    block = bytes(1 << 20)
    with zf.open(info, "w", force_zip64=True) as out:
        out.write(header_bytes)
        while n_zeros > 0:
            out.write(block[:min(n_zeros, len(block))])
            n_zeros -= len(block)


# -- the model corpus ------------------------------------------------------------------

def model_corpus(directory):
    """Write the hostile model files into directory; [(path, what it is)]."""
    d = Path(directory)
    out = []

    def add(name, members, what, compression=zipfile.ZIP_STORED):
        out.append((write_zip(d / f"{name}.npz", members, compression), what))

    def add_meta(name, what, meta=None, text=None, params=None):
        add(name, [("meta", meta_member(meta, text)), ("params", params or params_member())],
            what)

    good = valid_model(d / "_valid.npz").read_bytes()
    (d / "_valid.npz").unlink()

    # not archives, broken archives
    for name, data in [("empty", b""), ("text", b"hello\n"), ("npy_file", params_member()),
                       ("gzip_file", gzip.compress(good)), ("zip_magic_only", b"PK\x03\x04"),
                       ("end_record_only", b"PK\x05\x06" + bytes(18))]:
        (d / f"{name}.npz").write_bytes(data)
        out.append((d / f"{name}.npz", f"not a model archive: {name}"))
    for cut in (10, 40, len(good) // 3, len(good) // 2, len(good) - 30, len(good) - 1):
        (d / f"truncated_{cut}.npz").write_bytes(good[:cut])
        out.append((d / f"truncated_{cut}.npz", f"truncated at byte {cut}"))
    data = bytearray(good)
    at = good.find(np.linspace(-1, 1, N_PARAMS).tobytes()[8:16])
    data[at] ^= 0x01
    (d / "bad_crc.npz").write_bytes(bytes(data))
    out.append((d / "bad_crc.npz", "a flipped bit in params (ZIP CRC)"))

    # members missing, foreign, pickled, of the wrong kind
    add("no_meta", [("params", params_member())], "no meta member")
    add("no_params", [("meta", meta_member())], "no params member")
    add("plain_zip", [("readme.txt", b"hello")], "a ZIP of text")
    add("pickled_meta", [("meta", npy("|O", (), b"\x80\x04\x95" + bytes(20))),
                         ("params", params_member())], "pickled meta")
    add("pickled_params", [("meta", meta_member()),
                           ("params", npy("|O", (N_PARAMS,), b"\x80\x04" + bytes(30)))],
        "pickled params")
    add("meta_bytes", [("meta", npy("|S5", (), b"hello")), ("params", params_member())],
        "meta of bytes")
    add("meta_1d", [("meta", npy("<U2", (1,), "{}".encode("utf-32-le"))),
                    ("params", params_member())], "meta of shape (1,)")
    add("npy_version_3", [("meta", meta_member()),
                          ("params", npy("<f8", (N_PARAMS,), bytes(8 * N_PARAMS),
                                         version=(3, 0)))], "npy format 3.0")
    add("npy_version_9", [("meta", meta_member()),
                          ("params", npy("<f8", (N_PARAMS,), bytes(8 * N_PARAMS),
                                         version=(9, 9)))], "npy format 9.9")
    add("npy_header_huge", [("meta", meta_member()),
                            ("params", npy(None, None, bytes(8 * N_PARAMS), version=(2, 0),
                                           header="{'descr': '<f8', 'fortran_order': False, "
                                                  "'shape': (26,), 'x': '" + "x" * 200_000
                                                  + "'}"))], "npy header of 200 kB")
    add("npy_header_code", [("meta", meta_member()),
                            ("params", npy(None, None, bytes(8 * N_PARAMS),
                                           header="__import__('os').system('false')"))],
        "npy header that is code")
    add("npy_bad_magic", [("meta", meta_member()), ("params", b"\x93NUMPX" + bytes(200))],
        "npy magic wrong")
    for name, descr in [("f4", "<f4"), ("f2", "<f2"), ("i8", "<i8"), ("c16", "<c16"),
                        ("u1", "|u1"), ("U8", "<U8"), ("V8", "|V8"),
                        ("struct", [("a", "<f8")])]:
        data = bytes(np.dtype(descr).itemsize * N_PARAMS)
        add(f"params_dtype_{name}", [("meta", meta_member()),
                                     ("params", npy(descr, (N_PARAMS,), data))],
            f"params of dtype {descr}")
    add("params_big_endian_wrong_size", [("meta", meta_member()),
                                         ("params", params_member(descr=">f4"))],
        "params >f4 for a float64 model")
    add("params_2d", [("meta", meta_member()),
                      ("params", npy("<f8", (2, 13), bytes(8 * N_PARAMS)))], "params 2-D")
    add("params_short", [("meta", meta_member()),
                         ("params", params_member(np.zeros(N_PARAMS - 1)))], "params short")
    add("params_header_lies", [("meta", meta_member()),
                               ("params", npy("<f8", (N_PARAMS,), bytes(8 * 3)))],
        "params header longer than the data")
    add("params_header_lies_short", [("meta", meta_member()),
                                     ("params", npy("<f8", (3,), bytes(8 * N_PARAMS)))],
        "params header shorter than the data")
    for name, value in [("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf)]:
        values = np.linspace(-1, 1, N_PARAMS)
        values[7] = value
        add(f"params_{name}", [("meta", meta_member()), ("params", params_member(values))],
            f"params with {name}")
    add("encrypted_flag", [("meta", meta_member()), ("params", params_member())],
        "(flag set below)")
    path = out[-1][0]
    raw = bytearray(path.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):                 # local and central headers
        start = 0
        while (at := raw.find(sig, start)) >= 0:
            flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
            raw[flag_at] |= 0x01
            start = at + 4
    path.write_bytes(bytes(raw))
    out[-1] = (path, "the encrypted flag on every member")
    add("bzip2", [("meta", meta_member()), ("params", params_member())],
        "bzip2-compressed members", zipfile.ZIP_BZIP2)

    # meta: not JSON, not this format, out of range, inconsistent
    for name, text in [
            ("meta_not_json", "{not json"), ("meta_list", "[1, 2]"), ("meta_empty", ""),
            ("meta_nan_token", json.dumps(meta_dict()).replace('"l2": 0.0', '"l2": NaN')),
            ("meta_nan_in_training", json.dumps(meta_dict()).replace(
                '"training": {}', '"training": {"x": Infinity}')),
            ("meta_deep", "[" * 200_000 + "]" * 200_000),
            ("meta_huge_int", json.dumps(meta_dict()).replace('"l2": 0.0',
                                                              '"l2": ' + "9" * 20_000))]:
        add_meta(name, f"meta text {name}", text=text)
    add("meta_not_unicode", [("meta", npy("<U2", (), b"\xff\xff\xff\xff\0\xd8\0\0")),
                             ("params", params_member())], "meta of invalid code points")
    bad_metas = {
        "foreign_format": dict(format="other"), "newer_version": dict(version=2),
        "version_string": dict(version="1"), "sizes_one": dict(sizes=[3]),
        "sizes_zero": dict(sizes=[3, 0, 2]), "sizes_negative": dict(sizes=[3, -4, 2]),
        "sizes_float": dict(sizes=[3, 4.0, 2]), "sizes_2_31": dict(sizes=[3, 2**31, 2]),
        "sizes_bool": dict(sizes=[3, True, 2]), "sizes_string": dict(sizes="3,4,2"),
        "sizes_huge_consistent": dict(sizes=[2**31 - 1, 2**31 - 1, 2],
                                      activations=["tanh", "softmax"],
                                      n_params=2**62 + 2**31 * 3),
        "activation_unknown": dict(activations=["swish", "softmax"]),
        "activation_softmax_hidden": dict(activations=["softmax", "softmax"]),
        "activations_short": dict(activations=["tanh"]),
        "alphas_nan_string": dict(alphas=["NaN", 0.0]), "alphas_short": dict(alphas=[0.0]),
        "loss_unknown": dict(loss="hinge"), "loss_mismatch": dict(loss="binary_cross_entropy"),
        "l2_negative": dict(l2=-1.0), "dtype_float16": dict(dtype="float16"),
        "dtype_mismatch": dict(dtype="float32"), "n_params_wrong": dict(n_params=25),
        "scaler_string": dict(scaler="yes"), "scaler_missing_members": dict(scaler=True),
        "training_list": dict(training=[1, 2]),
        "bounds_length_1": dict(training={"input_min": [0.0], "input_max": [1.0]}),
        "bounds_reversed": dict(training={"input_min": [0, 1, 0], "input_max": [1, 0, 1]}),
        "bounds_strings": dict(training={"input_min": ["0"] * 3, "input_max": ["1"] * 3}),
        "bounds_half": dict(training={"input_min": [0.0] * 3}),
        "mean_length_1": dict(training={"input_mean": [0.0]}),
        "feature_names_short": dict(training={"feature_names": ["a"]}),
        "feature_names_numbers": dict(training={"feature_names": [1, 2, 3]}),
        "classes_short": dict(training={"classes": ["a"]}),
        "classes_nested": dict(training={"classes": [[1], [2]]}),
        "target_float": dict(training={"target": 0.5}),
    }
    for name, change in bad_metas.items():
        meta = meta_dict(**change)
        for key in [k for k, v in change.items() if v is None]:
            del meta[key]
        add_meta(f"meta_{name}", f"meta {name}", meta=meta)
    for key in ("sizes", "activations", "alphas", "loss", "l2", "dtype", "n_params",
                "scaler", "training"):
        meta = meta_dict()
        del meta[key]
        add_meta(f"meta_without_{key}", f"meta without {key}", meta=meta)
    big = 300_000                    # 300,000 layers of width 1: a 48 kB declaration
    add("layers_300k", [("meta", meta_member(meta_dict(
        sizes=[1] * (big + 1), activations=["tanh"] * (big - 1) + ["softmax"],
        alphas=[0.0] * big, n_params=2 * big))), ("params", params_member())],
        "300,000 layers declared", zipfile.ZIP_DEFLATED)
    scaler = [("meta", meta_member(meta_dict(scaler=True))), ("params", params_member())]
    add("scaler_short", scaler + [("scaler_mean", params_member(np.zeros(2))),
                                  ("scaler_scale", params_member(np.ones(3)))], "scaler short")
    add("scaler_zero_scale", scaler + [("scaler_mean", params_member(np.zeros(3))),
                                       ("scaler_scale", params_member(np.zeros(3)))],
        "scaler scale 0")
    add("scaler_nan", scaler + [("scaler_mean", params_member([0, np.nan, 0])),
                                ("scaler_scale", params_member(np.ones(3)))], "scaler NaN")

    # bombs: small files that inflate to much more than they declare or may hold
    path = d / "bomb_params.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", meta_member())
        n = 16 << 20                            # 16 MiB of zeros, declared as such
        zeros_member(zf, "params.npy", npy("<f8", (n // 8,)), n)
    out.append((path, "params inflating to 16 MiB for 26 parameters"))
    path = d / "bomb_params_header_small.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", meta_member())
        zeros_member(zf, "params.npy", npy("<f8", (N_PARAMS,)), 16 << 20)
    out.append((path, "params declaring 26 values, inflating to 16 MiB"))
    path = d / "bomb_meta.npz"
    with zipfile.ZipFile(path, "w") as zf:
        n_chars = 17 << 20                      # 68 MiB of UTF-32, over the limit
        zeros_member(zf, "meta.npy", npy(f"<U{n_chars}", ()), 4 * n_chars)
        zf.writestr("params.npy", params_member())
    out.append((path, "meta of 17 Mi characters (68 MiB)"))
    path = d / "bomb_meta_header_small.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zeros_member(zf, "meta.npy", npy("<U4", ()), 16 << 20)
        zf.writestr("params.npy", params_member())
    out.append((path, "meta declaring 4 characters, inflating to 16 MiB"))
    path = d / "bomb_claims_ratio.npz"
    write_zip(path, [("meta", meta_member()), ("params", params_member())],
              zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")                  # the last member: params
    struct.pack_into("<I", raw, central + 24, 2**31)    # uncompressed size: 2 GiB
    path.write_bytes(bytes(raw))
    out.append((path, "params claiming an inflated size of 2 GiB"))
    return out


# -- the IDX corpus --------------------------------------------------------------------

def idx(code, shape, data):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) \
        + data


def valid_idx():
    return idx(0x08, (4, 3, 2), bytes(range(24)))


def idx_corpus(directory):
    """Write the hostile IDX files into directory; [(path, what it is)]."""
    d = Path(directory)
    out = []

    def add(name, data, what, compress=False):
        path = d / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        out.append((path, what))

    good = valid_idx()
    for compress in (False, True):
        tag = "_gz" if compress else ""
        add("empty" + tag, b"", "empty", compress)
        add("short_header" + tag, good[:3], "3 bytes", compress)
        add("zero_dims" + tag, b"\0\0\x08\0", "zero dimensions", compress)
        add("bad_magic" + tag, b"\x01" + good[1:], "bad magic", compress)
        add("bad_type" + tag, good[:2] + b"\x07" + good[3:], "unknown type", compress)
        add("truncated_dims" + tag, good[:9], "dimensions cut", compress)
        add("truncated_data" + tag, good[:-1], "data cut", compress)
        add("trailing" + tag, good + b"x", "a byte too many", compress)
        add("huge_dims" + tag, idx(0x08, (2**32 - 1, 2**32 - 1), bytes(10)),
            "declares 2**64 bytes", compress)
        add("huge_dims_f64" + tag, idx(0x0E, (2**31, 2**31, 255), bytes(10)),
            "declares 2**73 bytes", compress)
        add("255_dims" + tag, bytes([0, 0, 8, 255]) + b"\0\0\0\x02" * 255,
            "255 dimensions of 2, no data", compress)
    gz = bytearray(gzip.compress(good, mtime=0))
    gz[-8] ^= 0xFF
    add("bad_crc.gz", bytes(gz), "gzip CRC wrong")
    add("gzip_cut.gz", gzip.compress(good, mtime=0)[:15], "gzip stream cut")
    add("gzip_method.gz", b"\x1f\x8b\x07" + bytes(20), "gzip method 7")
    # a gzip bomb: 3 values declared, 32 MiB of zeros after them
    path = d / "bomb_trailing.gz"
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(idx(0x08, (3,), b"abc"))
        block = bytes(1 << 20)
        for _ in range(32):
            f.write(block)
    out.append((path, "3 bytes declared, 32 MiB inflated"))
    # a gzip that declares more than a file of its size can inflate to
    add("bomb_declared", idx(0x08, (1 << 30,), bytes(1000)), "1 GiB declared in a tiny gzip",
        compress=True)
    return out


# -- random damage -----------------------------------------------------------------------

def mutations(data, rng):
    """Endless damaged copies of data: bit flips, overwritten bytes, truncations,
    deleted / duplicated spans, and several of these at once."""
    data = bytes(data)
    while True:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            kind = rng.integers(5)
            n = len(out)
            if n == 0:
                break
            i = int(rng.integers(n))
            if kind == 0:
                out[i] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                out[i] = int(rng.choice([0, 0xFF, 0x7F, 0x80, int(rng.integers(256))]))
            elif kind == 2:
                del out[i:]
            elif kind == 3:
                del out[i:i + int(rng.integers(1, 64))]
            else:
                j = min(n, i + int(rng.integers(1, 64)))
                out[i:i] = out[i:j]
        yield bytes(out)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    (target / "models").mkdir(parents=True, exist_ok=True)
    (target / "idx").mkdir(parents=True, exist_ok=True)
    for path, what in model_corpus(target / "models") + idx_corpus(target / "idx"):
        print(f"{path.stat().st_size:>10,}  {path}  {what}")
