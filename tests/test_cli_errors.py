"""Every bad command ends the same way: exit status 2, exactly one line on stderr, no
traceback -- bad arguments, bad tables, bad or crafted model files, sizes that cannot
fit in memory, a learning rate that makes training diverge."""
import subprocess
import sys

import pytest

from fastmlp.cli import main

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def run(capsys, argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:          # argparse exits from inside parse_args
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real tables (iris with text labels, diabetes), two trained models and crafted
    bad files, by name."""
    d = tmp_path_factory.mktemp("bad")
    iris = sklearn_datasets.load_iris(as_frame=True)
    frame = iris.frame.copy()
    frame["target"] = iris.target_names[iris.target]
    frame.to_csv(d / "iris.csv", index=False)
    sklearn_datasets.load_diabetes(as_frame=True).frame.to_csv(d / "diabetes.csv", index=False)
    paths = {"dir": d, "iris": d / "iris.csv", "diabetes": d / "diabetes.csv"}
    texts = {
        "empty": "", "header_only": "a,b\n", "ragged": "a,b\n1,2\n3\n",
        "text_feature": "a,b\n1,x\n2,y\n", "na": "a,b\n1,NA\n2,3\n",
        "all_missing": "a,b\n1,\n,3\n", "one_class": "a,b\n1,0\n2,0\n3,0\n",
        "dupe": "a,a,b\n1,2,3\n", "inf": "a,b\n1,inf\n2,3\n",
        "unnamed_middle": "a,,b\n1,2,3\n", "only_target": "b\n1\n2\n",
        "bounds_bad": "lo,hi\n0,1\n", "unlabelled": "sepal length (cm),b\n1,2\n",
        "unknown_label": ("sepal length (cm),sepal width (cm),petal length (cm),"
                          "petal width (cm),target\n5,3,1,0.2,tulip\n"),
    }
    for name, text in texts.items():
        paths[name] = d / f"{name}.csv"
        paths[name].write_text(text)
    paths["binary"] = d / "binary.csv"
    paths["binary"].write_bytes(b"a,b\n\xff\xfe\x00,1\n")
    paths["junk_model"] = d / "junk.npz"
    paths["junk_model"].write_bytes(b"not a model at all")
    paths["truncated_model"] = d / "truncated.npz"

    for name, data in (("cls", "iris"), ("reg", "diabetes")):
        paths[name] = d / f"{name}.npz"
        code = main(["train", str(paths[data]), "--target", "target", "--epochs", "3",
                     "--quiet", "--out", str(paths[name])])
        assert code == 0
    paths["truncated_model"].write_bytes(paths["cls"].read_bytes()[:300])
    crafted = {"short_bounds": ("reg", "input_min", [0.0]),
               "few_classes": ("cls", "classes", ["setosa"]),
               "few_names": ("cls", "feature_names", ["a"])}
    # save() refuses such training fields, so these files are crafted as an attacker
    # would: by writing the archive with the check switched off
    import fastmlp.io
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastmlp.io, "training_problem", lambda *args: None)
        for name, (base, key, value) in crafted.items():
            net = fastmlp.Network.load(paths[base])
            net.training[key] = value
            paths[name] = d / f"{name}.npz"
            net.save(paths[name])
    return paths


TRAIN = ["train", "{iris}", "--target", "target", "--epochs", "3", "--quiet",
         "--out", "{dir}/m.npz"]
BAD_COMMANDS = [
    # the command itself
    [], ["bogus"], ["--nope"], ["train"], ["predict", "{cls}"], ["info"],
    ["demo", "--seed", "-1"], ["demo", "--seed", "x"], ["demo", "extra"],
    # train: arguments
    TRAIN + ["--epochs", "0"], TRAIN + ["--epochs", "-1"], TRAIN + ["--epochs", "x"],
    TRAIN + ["--epochs", "1.5"], TRAIN + ["--epochs", "2147483648"],
    TRAIN + ["--batch-size", "0"], TRAIN + ["--batch-size", "-5"],
    TRAIN + ["--lr", "-1"], TRAIN + ["--lr", "nan"], TRAIN + ["--lr", "inf"],
    TRAIN + ["--lr", "1e30"], TRAIN + ["--lr", "abc"], TRAIN + ["--l2", "-1"],
    TRAIN + ["--l2", "nan"], TRAIN + ["--hidden", "0"], TRAIN + ["--hidden", "a"],
    TRAIN + ["--hidden", "-3"], TRAIN + ["--hidden", "2147483648"],
    TRAIN + ["--hidden", "2147483647"], TRAIN + ["--hidden", "100000,100000"],
    TRAIN + ["--hidden", "30000,30000,30000,30000"],
    TRAIN + ["--activation", "bogus"], TRAIN + ["--activation", "softmax"],
    TRAIN + ["--optimizer", "rmsprop"], TRAIN + ["--dtype", "float16"],
    TRAIN + ["--validation-fraction", "1"], TRAIN + ["--validation-fraction", "-0.1"],
    TRAIN + ["--validation-fraction", "x"], TRAIN + ["--test-fraction", "1"],
    TRAIN + ["--test-fraction", "2"], TRAIN + ["--patience", "0"],
    TRAIN + ["--task", "bogus"], TRAIN + ["--task", "regress"], TRAIN + ["--seed", "-1"],
    TRAIN + ["--seed", "1e3"], TRAIN + ["--delimiter", ";"], TRAIN + ["--unknown"],
    ["train", "{iris}", "--target", "target", "--optimizer", "sgd", "--lr", "1e6", "--quiet",
     "--out", "{dir}/d.npz"],
    TRAIN + ["--out", "{dir}/no/such/dir/m.npz"],
    # train: data
    ["train", "{dir}/missing.csv", "--target", "y"], ["train", "{junk_model}", "--target", "y"],
    ["train", "{dir}", "--target", "y"], ["train", "{iris}"],
    ["train", "{iris}", "--target", "nope"], ["train", "{iris}", "--target", ","],
    ["train", "{iris}", "--target", "target,target"],
    ["train", "{iris}", "--target", "target,sepal length (cm)"],
    ["train", "{diabetes}", "--target", "target,s1", "--task", "classify"],
    ["train", "{empty}", "--target", "a"], ["train", "{header_only}", "--target", "a"],
    ["train", "{ragged}", "--target", "a"], ["train", "{text_feature}", "--target", "a"],
    ["train", "{na}", "--target", "a"], ["train", "{all_missing}", "--target", "a",
                                         "--drop-missing"],
    ["train", "{one_class}", "--target", "b"], ["train", "{dupe}", "--target", "b"],
    ["train", "{inf}", "--target", "a"], ["train", "{unnamed_middle}", "--target", "a"],
    ["train", "{only_target}", "--target", "b"], ["train", "{binary}", "--target", "a"],
    # predict / evaluate / gradcheck
    ["predict", "{dir}/missing.npz", "{iris}"], ["predict", "{junk_model}", "{iris}"],
    ["predict", "{truncated_model}", "{iris}"], ["predict", "{few_classes}", "{iris}"],
    ["predict", "{few_names}", "{iris}"], ["predict", "{cls}", "{dir}/missing.csv"],
    ["predict", "{cls}", "{unlabelled}"], ["predict", "{cls}", "{diabetes}"],
    ["predict", "{cls}", "{iris}", "--show", "-1"], ["predict", "{cls}", "{iris}", "--show", "x"],
    ["predict", "{cls}", "{iris}", "--split", "bogus"],
    ["predict", "{cls}", "{iris}", "--out", "{dir}/no/such/dir/p.csv"],
    ["evaluate", "{cls}", "{unknown_label}"], ["evaluate", "{cls}", "{unlabelled}"],
    ["evaluate", "{cls}", "{iris}", "--target", "nope"], ["evaluate", "{reg}", "{iris}"],
    ["evaluate", "{few_classes}", "{iris}"], ["evaluate", "{cls}", "{na}"],
    ["gradcheck", "{cls}", "{iris}", "--rows", "-3"],
    ["gradcheck", "{cls}", "{iris}", "--rows", "0"],
    ["gradcheck", "{cls}", "{iris}", "--rows", "x"],
    # invert
    ["invert", "{reg}"], ["invert", "{reg}", "--target", "1", "--class", "a"],
    ["invert", "{cls}", "--class", "tulip"], ["invert", "{reg}", "--target", "1,2"],
    ["invert", "{reg}", "--target", "abc"], ["invert", "{reg}", "--target", "1", "--fix", "zz=1"],
    ["invert", "{reg}", "--target", "1", "--fix", "age"],
    ["invert", "{reg}", "--target", "1", "--fix", "age=x"],
    ["invert", "{reg}", "--target", "1", "--restarts", "0"],
    ["invert", "{reg}", "--target", "1", "--restarts", "2147483647"],
    ["invert", "{reg}", "--target", "1", "--restarts", "2147483648"],
    ["invert", "{reg}", "--target", "1", "--max-iter", "0"],
    ["invert", "{cls}", "--class", "setosa", "--min-prob", "2"],
    ["invert", "{reg}", "--target", "1", "--bounds", "1"],
    ["invert", "{reg}", "--target", "1", "--bounds", "a,b"],
    ["invert", "{reg}", "--target", "1", "--bounds-file", "{dir}/missing.csv"],
    ["invert", "{reg}", "--target", "1", "--bounds-file", "{bounds_bad}"],
    ["invert", "{reg}", "--target", "1", "--reg", "-1"],
    ["invert", "{reg}", "--target", "1", "--show", "-1"],
    ["invert", "{short_bounds}", "--target", "100"],
    ["invert", "{few_classes}", "--class", "setosa"],
    # info
    ["info", "{dir}/missing.npz"], ["info", "{junk_model}"], ["info", "{truncated_model}"],
    ["info", "{dir}"], ["info", "{junk_model}", "--json"], ["info", "{cls}", "--bogus"],
]


def test_the_table_is_large():
    assert len(BAD_COMMANDS) >= 100


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=lambda a: " ".join(a)[:60] or "(none)")
def test_bad_command_exits_2_with_one_line(capsys, files, argv, monkeypatch):
    monkeypatch.chdir(files["dir"])          # a command that wrongly succeeded writes here
    argv = [a.format(**files) for a in argv]
    code, out, err = run(capsys, argv)
    assert code == 2, (code, out[-500:], err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastmlp") and "error: " in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("argv", [
    ["train", "{iris}", "--target", "target", "--hidden", "100000,100000"],
    ["gradcheck", "{cls}", "{iris}", "--rows", "-3"],
    ["frobnicate"],
])
def test_the_installed_command_agrees(files, argv):
    proc = subprocess.run([sys.executable, "-m", "fastmlp"] + [a.format(**files) for a in argv],
                          capture_output=True, text=True, cwd=files["dir"])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_memory_refusals_say_how_much(capsys, files):
    code, _, err = run(capsys, ["train", files["iris"], "--target", "target",
                                "--hidden", "100000,100000"])
    assert code == 2 and "out of memory" in err and "GiB" in err
    # an independent count: two 100000-wide layers hold 1e10 float32 weights = 37 GiB
    assert float(err.split("needs about ")[1].split(" GiB")[0].replace(",", "")) > 37


def test_divergence_names_the_step_and_the_fix(capsys, files):
    code, _, err = run(capsys, ["train", files["iris"], "--target", "target",
                                "--optimizer", "sgd", "--lr", "1e6", "--quiet",
                                "--out", files["dir"] / "d.npz"])
    assert code == 2 and "diverged" in err and "smaller --lr" in err


def test_crafted_training_fields_are_refused_by_name(capsys, files):
    code, _, err = run(capsys, ["invert", files["short_bounds"], "--target", "100"])
    # refused by the model-file loader itself, naming the file and the field
    assert code == 2 and "short_bounds.npz" in err and "input_min" in err
    code, _, err = run(capsys, ["predict", files["few_classes"], files["iris"]])
    assert code == 2 and "few_classes.npz" in err and "classes" in err


def test_no_command_prints_help_and_one_error_line(capsys):
    code, out, err = run(capsys, [])
    assert code == 2 and "usage: fastmlp" in out and len(err.strip().splitlines()) == 1
