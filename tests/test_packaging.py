"""Packaging details a user meets: the license, the sklearn extra's import error, and
the demo's verdicts.  The import test hides scikit-learn in a fresh interpreter with a
meta-path hook, as an environment without it would."""
import re
import subprocess
import sys
from pathlib import Path

from fastmlp import demo

CHECKOUT = Path(__file__).resolve().parent.parent

HIDE_SKLEARN = """
import sys

class NoSklearn:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoSklearn())
import fastmlp
import numpy as np
net = fastmlp.Network([2, 3, 2], seed=0)
net.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]), epochs=1)
assert "sklearn" not in sys.modules
try:
    import fastmlp.sklearn
except ImportError as exc:
    print("ImportError:", exc)
"""


def test_fastmlp_sklearn_without_scikit_learn_says_what_to_install(tmp_path):
    result = subprocess.run([sys.executable, "-c", HIDE_SKLEARN], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'pip install "fastmlp[sklearn]"' in result.stdout


def test_license_is_mit_and_shipped():
    pyproject = (CHECKOUT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.M)
    assert re.search(r'^sklearn = \["scikit-learn', pyproject, re.M)
    text = (CHECKOUT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert "include LICENSE" in (CHECKOUT / "MANIFEST.in").read_text().splitlines()


def test_demo_verdicts_and_progress():
    lines = []
    assert demo.run(seed=0, out=lines.append)
    text = "\n".join(lines)
    assert re.search(r"spirals  step 5000/5000  loss \d", text)
    assert "(as expected from float32 rounding, limit 1e-02)" in text
    assert "tolerance 1e-06: OK" in text
