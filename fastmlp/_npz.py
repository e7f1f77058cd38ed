"""Reading the .npy members of an untrusted .npz (ZIP) archive within limits.

np.load would allocate whatever shape a member's header declares and inflate
whatever a compressed member holds.  Here a member's .npy header (shape, dtype) is
read first, from the start of its stream, so the caller can check it against what
it expects BEFORE any data is read; the data then go straight into the caller's
array, and never more bytes are inflated than the header declared (plus one, to
see the end).  The ZIP's CRC of every member read is checked at its end.

    archive = Archive(f)                     # a seekable binary file
    member = archive.member("params")        # header read: member.shape, member.dtype
    member.read_into(out)                    # out: a C-ordered array of that many bytes
"""
import zipfile

import numpy as np

# deflate inflates at most 1032 bytes per compressed byte: a member that claims
# more is not what it says (the slack covers the ZIP's own framing)
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20
_FORMATS = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}


class BadMember(Exception):
    """A member that is missing or is not the .npy array it claims to be."""


class Archive:
    """The members of an open .npz file, by name without the '.npy'."""

    def __init__(self, f):
        self.zip = zipfile.ZipFile(f)
        self.infos = {}
        for info in self.zip.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            self.infos.setdefault(name, info)

    def close(self):
        self.zip.close()

    def __contains__(self, name):
        return name in self.infos

    def names(self):
        return sorted(self.infos)

    def member(self, name):
        """The member `name` with its .npy header read (its data not yet)."""
        info = self.infos.get(name)
        if info is None:
            raise BadMember(f"the {name!r} entry is missing")
        if info.flag_bits & 0x1:
            raise BadMember(f"the {name!r} entry is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadMember(f"the {name!r} entry uses ZIP compression method "
                            f"{info.compress_type} (only stored and deflated are read)")
        if info.compress_type == zipfile.ZIP_DEFLATED and \
                info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise BadMember(f"the {name!r} entry claims to inflate {info.compress_size:,} "
                            f"bytes to {info.file_size:,}, more than deflate can")
        return Member(name, info, self.zip.open(info))


class Member:
    """One .npy member: name, shape, dtype, nbytes (of its data); read_into(out)."""

    def __init__(self, name, info, stream):
        self.name, self.stream = name, stream
        try:
            version = np.lib.format.read_magic(stream)
            if version not in _FORMATS:
                raise BadMember(f"the {name!r} entry has .npy format version {version}, "
                                "expected 1.0 or 2.0")
            shape, fortran, dtype = _FORMATS[version](stream)   # header <= 10000 bytes
        except ValueError as exc:
            raise BadMember(f"the {name!r} entry is not a valid .npy array: {exc}") from None
        if dtype.hasobject:
            raise BadMember(f"the {name!r} entry holds Python objects (pickled data), "
                            "which fastmlp never loads")
        self.shape, self.dtype, self.fortran = shape, dtype, fortran
        self.nbytes = dtype.itemsize * _product(shape)
        header = stream.tell()
        if info.file_size != header + self.nbytes:
            raise BadMember(f"the {name!r} entry is {info.file_size:,} bytes long, but its "
                            f"header ({dtype.str} of shape {shape}) needs "
                            f"{header + self.nbytes:,}")

    def read_into(self, out):
        """Fill `out` (C-ordered, exactly nbytes long) with the member's data, inflating
        no more than that; then check that the member ends there (and its CRC)."""
        view = memoryview(out).cast("B")
        if view.nbytes != self.nbytes:                  # pragma: no cover (caller's bug)
            raise ValueError(f"read_into needs {self.nbytes} bytes, got {view.nbytes}")
        pos = 0
        while pos < self.nbytes:
            chunk = self.stream.read(min(_CHUNK, self.nbytes - pos))
            if not chunk:
                raise BadMember(f"the {self.name!r} entry ends after {pos:,} of its "
                                f"{self.nbytes:,} data bytes (truncated?)")
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if self.stream.read(1):
            raise BadMember(f"the {self.name!r} entry has bytes after its data")
        self.stream.close()

    def read(self):
        """The data of a 0-d or 1-d member as a new native-order array (for small
        members; the caller has checked shape and dtype)."""
        if len(self.shape) > 1:                         # pragma: no cover (caller's bug)
            raise ValueError("read() is for 0-d and 1-d members")
        arr = np.empty(self.shape, self.dtype.newbyteorder("="))
        self.read_into(arr)
        if not self.dtype.isnative:
            arr.byteswap(inplace=True)
        return arr


def _product(shape):
    n = 1
    for s in shape:
        n *= s
    return n
