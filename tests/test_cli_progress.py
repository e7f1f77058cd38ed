"""`fastmlp train`'s progress output (one line in place on a terminal, a few plain lines
otherwise, a samples/s figure over the whole run) and its --plot PNG."""
import io
import sys

import pytest

from fastmlp import cli_train, datasets
from fastmlp.cli import main
from fastmlp.cli_train import Progress


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class Clock:
    """A fake time.perf_counter: each call returns the current time; tick() advances it."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(cli_train.time, "perf_counter", c)
    return c


def feed(progress, clock, durations):
    for epoch, seconds in enumerate(durations, 1):
        clock.now += seconds
        progress(None, {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 2.0 / epoch,
                        "val_accuracy": 0.5})
    progress.finish()


def test_a_terminal_gets_one_line_rewritten_in_place(clock):
    stream = Stream(tty=True)
    feed(Progress(50, 1000, "accuracy", stream), clock, [0.2] * 50)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")         # one line, ended once
    assert text.count("\r") >= 50
    assert text.rstrip().rsplit("\r", 1)[1].startswith("epoch 50/50")


def test_a_pipe_gets_a_few_plain_lines(clock):
    stream = Stream(tty=False)
    feed(Progress(200, 1000, "accuracy", stream), clock, [0.01] * 137)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # epoch 1, every 20th epoch up to 120, and the last one reached
    assert [int(line.split()[1].split("/")[0]) for line in lines] == \
        [1, 20, 40, 60, 80, 100, 120, 137]


def test_a_pipe_gets_a_line_every_five_seconds_of_slow_epochs(clock):
    stream = Stream(tty=False)
    feed(Progress(1000, 10, "accuracy", stream), clock, [3.0] * 6)
    epochs = [int(line.split()[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert epochs == [1, 3, 5, 6]              # 5 s or more since the previous line


def test_samples_per_second_count_the_whole_run(clock):
    stream = Stream(tty=False)
    progress = Progress(3, 500, "accuracy", stream)
    feed(progress, clock, [1.0, 0.001, 0.001])     # one short epoch changes little
    last = stream.getvalue().splitlines()[-1]
    rate = float(last.split(" samples/s")[0].split()[-1].replace(",", ""))
    assert rate == pytest.approx(3 * 500 / 1.002, rel=1e-3)


def test_quiet_prints_no_progress(clock):
    stream = Stream(tty=True)
    feed(Progress(5, 10, "accuracy", stream, quiet=True), clock, [1.0] * 5)
    assert stream.getvalue() == ""


def test_the_command_prints_few_lines_to_a_pipe(tmp_path, capsys):
    X, y = datasets.spirals(300, seed=0)
    datasets.save_csv(tmp_path / "s.csv", X, y, ["a", "b"], "label")
    assert main(["train", str(tmp_path / "s.csv"), "--target", "label", "--epochs", "300",
                 "--patience", "300", "--out", str(tmp_path / "s.npz")]) == 0
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("epoch")]
    assert 5 <= len(progress) <= 13 and progress[-1].startswith("epoch 300/300")


# -- --plot ----------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("validation", ["0.2", "0"])
def test_plot_writes_a_png(tmp_path, capsys, validation):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    X, y = datasets.spirals(300, seed=1)
    datasets.save_csv(tmp_path / "s.csv", X, y, ["a", "b"], "label")
    png = tmp_path / "curve.png"
    assert main(["train", str(tmp_path / "s.csv"), "--target", "label", "--epochs", "40",
                 "--validation-fraction", validation, "--plot", str(png),
                 "--out", str(tmp_path / "s.npz")]) == 0
    assert f"and {png}" in capsys.readouterr().out
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib_image.imread(png)
    assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 400
    assert image[..., :3].std() > 0.05          # not a blank canvas


def test_plot_without_matplotlib_says_how_to_install_before_training(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import fails
    X, y = datasets.xor(100, seed=0)
    datasets.save_csv(tmp_path / "x.csv", X, y, ["a", "b"], "label")
    code = main(["train", str(tmp_path / "x.csv"), "--target", "label",
                 "--plot", str(tmp_path / "c.png"), "--out", str(tmp_path / "x.npz")])
    out, err = capsys.readouterr()
    assert code == 2 and 'pip install "fastmlp[plot]"' in err
    assert len(err.strip().splitlines()) == 1 and "epoch" not in out
    assert not (tmp_path / "x.npz").exists()
