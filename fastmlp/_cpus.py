"""The cores this process may use: its CPU affinity, and its cgroup's CPU quota.

A container limited to one CPU (`docker run --cpus=1`, a Kubernetes limit of 1, the
usual Dask deployment) still sees every core of its host in sched_getaffinity.  Two
threads there use up the quota in half of each period (100 ms by default) and are
then both stopped for the rest: with fastmlp's helper thread and OpenBLAS's second
thread at work, a 784-128-10 batch-32 step took 1.44x as long as on one thread
(bench/cpu_quota.py, a 1-CPU cgroup v1 quota on a 2-core AMD EPYC: median 200 us
against 139 us).
So the cores counted are at most the quota's whole CPUs (at least one): cgroup v2's
cpu.max, or v1's cpu.cfs_quota_us over cpu.cfs_period_us, the smallest along the
process's cgroup and its ancestors.  Read once per process (and again in a forked
child); no cgroup files (not Linux, none mounted): no quota.
"""
import math
import os

_counts = None      # (cpus(), usable()) once read


def cpus():
    """The CPUs this process may run on (its affinity mask; else all of them)."""
    return _read_counts()[0]


def usable():
    """How many cores this process may keep busy: cpus(), at most the whole CPUs of
    its cgroup's quota, at least 1.  The count automatic choices start from; a
    thread count the caller gives is held to cpus() only."""
    return _read_counts()[1]


def forget():
    """Read again on next use (a forked child, tests)."""
    global _counts
    _counts = None


def _read_counts():
    global _counts
    if _counts is None:
        if hasattr(os, "sched_getaffinity"):
            n = max(1, len(os.sched_getaffinity(0)))
        else:
            n = os.cpu_count() or 1
        limit = quota()
        _counts = n, n if limit is None else max(1, min(n, math.floor(limit)))
    return _counts


def quota(root="/"):
    """The CPU quota of this process's cgroup, in CPUs (1.5: 150 ms of CPU time per
    100 ms), the smallest along its cgroup and their ancestors; None without one.
    root: where the file system is (tests give a fake one)."""
    try:
        groups = _read(os.path.join(root, "proc/self/cgroup")).splitlines()
        mounts = _read(os.path.join(root, "proc/self/mountinfo")).splitlines()
    except OSError:
        return None
    limits = []
    for version, mount_root, mount_point in _cgroup_mounts(mounts):
        path = _own_cgroup(groups, version)
        if path is None:
            continue
        for directory in _directories(root, mount_root, mount_point, path):
            limit = _limit_v2(directory) if version == 2 else _limit_v1(directory)
            if limit is not None:
                limits.append(limit)
    return min(limits) if limits else None


def _read(path):
    with open(path) as f:
        return f.read()


def _cgroup_mounts(mountinfo):
    """(version, root of the mount in its hierarchy, mount point) of the cgroup2 mount
    and of the v1 mounts holding the cpu controller."""
    for line in mountinfo:
        head, sep, tail = line.partition(" - ")
        fields, after = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(after) < 3:
            continue
        if after[0] == "cgroup2":
            yield 2, fields[3], fields[4]
        elif after[0] == "cgroup" and "cpu" in after[2].split(","):
            yield 1, fields[3], fields[4]


def _own_cgroup(groups, version):
    """The process's cgroup path in the v2 hierarchy ("0::/path") or in the v1 one of
    the cpu controller ("4:cpu,cpuacct:/path")."""
    for line in groups:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if version == 2 and parts[0] == "0" and parts[1] == "":
            return parts[2]
        if version == 1 and "cpu" in parts[1].split(","):
            return parts[2]
    return None


def _directories(root, mount_root, mount_point, path):
    """The directories of the cgroup at `path` and of its ancestors up to the mount,
    under the mount point.  A path outside the mount's root (a container that sees
    its host's path) is the mount point itself."""
    inside = path == mount_root or path.startswith(mount_root.rstrip("/") + "/")
    relative = os.path.relpath(path, mount_root) if inside else "."
    top = os.path.join(root, mount_point.lstrip("/"))
    parts = [] if relative == "." else relative.split("/")
    for n in range(len(parts), -1, -1):
        yield os.path.join(top, *parts[:n])


def _limit_v2(directory):
    """cpu.max ("150000 100000", or "max 100000"): the quota in CPUs, or None."""
    try:
        fields = _read(os.path.join(directory, "cpu.max")).split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _limit_v1(directory):
    """cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us, or None."""
    try:
        quota_us = _read(os.path.join(directory, "cpu.cfs_quota_us")).strip()
        period_us = _read(os.path.join(directory, "cpu.cfs_period_us")).strip()
    except OSError:
        return None
    return _ratio(quota_us, period_us)


def _ratio(quota_us, period_us):
    try:
        q, p = int(quota_us), int(period_us)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
