"""A cgroup CPU quota limits the threads fastmlp chooses by itself (fastmlp._cpus).

The quota is read from fake /proc and cgroup trees written here (v2's cpu.max, v1's
cfs files, nested groups, a container that sees its host's path, files that make no
sense), then from a real cgroup where the tests may make one (root on Linux)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from fastmlp import _cpus, _kernels, _threads, _workers

V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"
V1_MOUNT = ("35 25 0:30 {root} /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup "
            "rw,cpu,cpuacct")
OTHER_MOUNTS = ["22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
                "36 25 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"]


def fake_root(tmp_path, cgroup, mounts, files):
    """A file system under tmp_path: /proc/self/cgroup, /proc/self/mountinfo, and
    `files` ({path: text})."""
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("\n".join(OTHER_MOUNTS + mounts) + "\n")
    for path, text in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize("job, parent, want", [
    ("150000 100000", "max 100000", 1.5),       # the job's own quota
    ("max 100000", "50000 100000", 0.5),        # an ancestor's, smaller
    ("400000 100000", "200000 100000", 2.0),    # the smallest along the way
    ("max 100000", "max 100000", None),         # no quota anywhere
    ("0 100000", "nonsense", None),             # nothing that makes sense
])
def test_cgroup_v2_quota_is_the_smallest_along_the_path(tmp_path, job, parent, want):
    root = fake_root(tmp_path, "0::/user.slice/job.scope\n", [V2_MOUNT],
                     {"/sys/fs/cgroup/user.slice/job.scope/cpu.max": job,
                      "/sys/fs/cgroup/user.slice/cpu.max": parent})
    assert _cpus.quota(root) == want


def test_cgroup_v1_quota_from_the_cpu_controllers_mount(tmp_path):
    """A Docker container on cgroup v1: the cpu hierarchy mounted at its own group,
    /proc/self/cgroup naming the same path."""
    group = "/docker/0123abcd"
    mounts = [V1_MOUNT.format(root=group)]
    lines = f"5:memory:{group}\n4:cpu,cpuacct:{group}\n0::/\n"
    files = {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "250000\n",
             "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"}
    assert _cpus.quota(fake_root(tmp_path / "a", lines, mounts, files)) == 2.5
    files["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "-1\n"
    assert _cpus.quota(fake_root(tmp_path / "b", lines, mounts, files)) is None


def test_a_path_outside_the_mount_reads_the_mount_point(tmp_path):
    """A container that sees its host's cgroup path, not under its mount's root:
    the group is the mount point itself (the container's own)."""
    mounts = [V1_MOUNT.format(root="/docker/0123abcd")]
    files = {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "100000",
             "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
             "/sys/fs/cgroup/cpu,cpuacct/kubepods/cpu.cfs_quota_us": "900000"}
    root = fake_root(tmp_path, "3:cpu,cpuacct:/kubepods/pod1\n", mounts, files)
    assert _cpus.quota(root) == 1.0


def test_no_cgroup_files_no_quota(tmp_path):
    assert _cpus.quota(str(tmp_path)) is None
    root = fake_root(tmp_path, "garbage\n", ["not a mount line"], {})
    assert _cpus.quota(root) is None


@pytest.fixture
def quota_of(monkeypatch):
    """quota_of(q): the process seen as under a quota of q CPUs (None: none)."""
    def set_quota(q):
        monkeypatch.setattr(_cpus, "quota", lambda root="/": q)
        _cpus.forget()
        monkeypatch.setattr(_workers, "_cores", None)
    yield set_quota
    _cpus.forget()


@pytest.mark.parametrize("q, want", [(None, "cpus"), (0.3, 1), (1.0, 1), (1.5, 1),
                                     (2.0, 2), (64.0, "cpus")])
def test_usable_cores_are_the_quotas_whole_cpus_at_least_one(quota_of, q, want):
    quota_of(q)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert _cpus.cpus() == n
    assert _cpus.usable() == (n if want == "cpus" else min(n, want))
    assert _workers.usable_cores() == _cpus.usable()


def test_under_a_one_cpu_quota_automatic_calls_use_one_thread(quota_of):
    """No helper and a one-thread BLAS for a large GEMM, chosen automatically; a count
    given still holds (up to the CPUs)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _threads.available() or _cpus.cpus() < 2 or not _kernels.HAVE_HELPERS:
        pytest.skip("needs a settable BLAS, two CPUs and helper threads")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # the tests' is 1
        quota_of(None)
        assert _workers.helpers() == 1
        assert _threads.choose(1 << 30, load_aware=False) == (None, False)
        quota_of(1.0)
        assert _workers.helpers() == 0
        assert _threads.choose(1 << 30, load_aware=False) == (1, False)
        assert _workers.helpers(2) == 1
        assert _threads.choose(1 << 30, 2) == (2, True)
        with _workers.step_threads(1 << 30) as step:
            assert step.helpers == 0 and _threads.current() == 1
        assert _threads.current() == 2


PROBE = """
import json
from fastmlp import _cpus, _threads, _workers
print(json.dumps([_cpus.quota(), _cpus.usable(), _workers.helpers(),
                  _threads.choose(1 << 30, load_aware=False)[0]]))
"""


def _writable_cpu_cgroup():
    """A cgroup directory this process may create with a CPU quota (v2 with the cpu
    controller, or v1's cpu hierarchy), or None."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    for base, v2 in (("/sys/fs/cgroup", True), ("/sys/fs/cgroup/cpu", False),
                     ("/sys/fs/cgroup/cpu,cpuacct", False)):
        if v2 and "cpu" not in _read(os.path.join(base, "cgroup.subtree_control")).split():
            continue
        if not v2 and not os.path.exists(os.path.join(base, "cpu.cfs_quota_us")):
            continue
        path = os.path.join(base, f"fastmlp-test-{os.getpid()}")
        try:
            os.mkdir(path)
        except OSError:
            continue
        return path, v2
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def test_a_real_one_cpu_cgroup(tmp_path):
    """In a cgroup limited to one CPU (150 ms of CPU per 100 ms is still one whole
    CPU), a fresh process counts one core, starts no helper and runs large GEMMs on
    one BLAS thread, though it may run on every CPU."""
    made = _writable_cpu_cgroup()
    if made is None:
        pytest.skip("cannot make a cgroup with a CPU quota here (needs root, Linux)")
    path, v2 = made
    try:
        settings = ({"cpu.max": "150000 100000"} if v2 else
                    {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "150000"})
        try:
            for name, value in settings.items():
                with open(os.path.join(path, name), "w") as f:
                    f.write(value)
        except OSError as exc:      # e.g. v1 refuses a quota above an ancestor's
            pytest.skip(f"cannot set a CPU quota here: {exc}")
        procs = os.path.join(path, "cgroup.procs")
        code = (f"import os; open({procs!r}, 'w').write(str(os.getpid()))\n"
                + textwrap.dedent(PROBE))
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(max(2, _cpus.cpus())))
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        quota, usable, helpers, blas = json.loads(proc.stdout)
        assert quota == 1.5 and usable == 1 and helpers == 0
        assert blas == (1 if _threads.available() else None)
    finally:
        os.rmdir(path)


def test_a_local_cluster_starts_one_worker_per_usable_core(quota_of, monkeypatch):
    """fastmlp.distributed's LocalCluster: one single-threaded worker per core the
    quota leaves, not per CPU of the machine."""
    distributed = pytest.importorskip("distributed")
    from fastmlp.distributed import _cluster
    made = {}
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kw: made.update(kw))
    quota_of(1.0)
    _cluster.local_cluster()
    assert made["n_workers"] == 1 and made["threads_per_worker"] == 1
    quota_of(None)
    _cluster.local_cluster()
    assert made["n_workers"] == _cpus.cpus()
    _cluster.local_cluster(3)
    assert made["n_workers"] == 3
