# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Read a raw disk image by 2 MiB blocks, touching only allocated data.

Holes are found with SEEK_DATA/SEEK_HOLE, so a 64 GiB sparse file with a
little data costs what its data costs. Blocks that hold only zeros are
dropped by :meth:`RawImage.data_blocks`, in the same single read that
hands the others to the writer.
"""

import errno
import os

from xenimage_import.source import blocks
from xenimage_import import structs
from xenimage_import.vhd import layout as L


class RawImage(blocks.BlockSource):
    """A raw image file opened read-only."""

    def __init__(self, path=None, fd=None):
        self.path = path
        self._owned = fd is None
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if fd is None \
            else fd
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError:
            self.close()
            raise

    @classmethod
    def from_fd(cls, fd):
        """Read an open file (left open on close)."""
        return cls(fd=fd)

    def close(self):
        if self._fd >= 0 and self._owned:
            os.close(self._fd)
        self._fd = -1

    def data_extents(self):
        """Yield ``(start, end)`` byte ranges that may hold data."""
        offset = 0
        while offset < self.size:
            try:
                start = os.lseek(self._fd, offset, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:      # only a hole is left
                    return
                if e.errno == errno.EINVAL:     # no SEEK_DATA here
                    yield offset, self.size
                    return
                raise
            end = min(os.lseek(self._fd, start, os.SEEK_HOLE), self.size)
            yield start, end
            offset = end

    def candidate_blocks(self):
        """Indexes of the blocks that overlap allocated data, ascending."""
        last = -1
        for start, end in self.data_extents():
            first = max(start // L.BLOCK_SIZE, last + 1)
            stop = structs.ceil_div(end, L.BLOCK_SIZE)
            yield from range(first, stop)
            if stop > first:
                last = stop - 1

    def candidate_bytes(self):
        """Bytes :meth:`data_blocks` will read (for progress totals)."""
        return sum(1 for _ in self.candidate_blocks()) * L.BLOCK_SIZE

    def data_blocks(self, progress=None, candidates=None):
        """Yield ``(index, data)`` for every block holding a non-zero byte.

        One read of each allocated block (or of each of ``candidates``),
        into a single reused buffer so that memory stays flat: consume
        ``data`` before the next step.
        """
        buf = bytearray(L.BLOCK_SIZE)
        view = memoryview(buf)
        if candidates is None:
            candidates = self.candidate_blocks()
        for block in candidates:
            got = os.preadv(self._fd, [buf], block * L.BLOCK_SIZE)
            if got < L.BLOCK_SIZE:
                view[got:] = bytes(L.BLOCK_SIZE - got)
            if progress:
                progress(L.BLOCK_SIZE)
            if buf != L.ZERO_BLOCK:
                yield block, buf
