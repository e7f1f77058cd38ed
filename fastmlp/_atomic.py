"""Atomic file writes for model files (see fastmlp.io: "Saving is atomic").

The bytes go to a temporary file in the target's directory, flushed and fsync'ed,
then renamed over the target (os.replace), so a reader sees the old file or the
new one, never half of one.  Temporary files are named
.NAME.fastmlp-PID-XXXXXXXXXXXX.tmp; a process killed mid-write cannot remove its
own, so each write of NAME first removes those that dead processes left.
"""
import os
import re
import secrets


def write_atomically(path, write):
    """Call write(f) with a binary file object; the bytes written replace the file
    at `path` all at once, or, if anything goes wrong (an error, Ctrl-C), not at all."""
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temps(directory, os.path.basename(path))
    fd, tmp = _create_temp(directory, os.path.basename(path))
    try:
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _create_temp(directory, name):
    """A new, exclusively created file next to the target.  Unlike mkstemp (mode
    0o600), its mode is 0o666 minus the umask, as for any file open() creates."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory,
                           f".{name}.fastmlp-{os.getpid()}-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _remove_stale_temps(directory, name):
    """Remove the temporary files of saves of `name` whose process has died."""
    pattern = re.compile(r"\." + re.escape(name) + r"\.fastmlp-(\d+)-[0-9a-f]{12}\.tmp")
    try:
        entries = [e.name for e in os.scandir(directory)]
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match and not _process_exists(int(match.group(1))):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _process_exists(pid):
    """Whether a process `pid` runs on this machine (True when it cannot be told)."""
    if os.name != "posix":
        return True
    if pid == os.getpid():
        return True           # this process may be saving the same target in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _fsync_directory(directory):
    """Make the rename durable (POSIX); best effort, not possible everywhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
