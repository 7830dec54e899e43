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
dropped by :meth:`RawImage.data_blocks`; the VHD writer never stores them.
"""

import errno
import os

from xenimage_import.vhd import layout as L

_ZERO_BLOCK = bytes(L.BLOCK_SIZE)


class RawImage(object):
    """A raw image file opened read-only."""

    def __init__(self, path):
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError:
            os.close(self._fd)
            raise

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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
            stop = -(-end // L.BLOCK_SIZE)
            yield from range(first, stop)
            if stop > first:
                last = stop - 1

    def data_blocks(self, progress=None):
        """Indexes of the blocks that hold a non-zero byte.

        One read pass over the allocated blocks, into a single reused
        buffer so that memory stays flat.
        """
        buf = bytearray(L.BLOCK_SIZE)
        found = []
        for block in self.candidate_blocks():
            got = os.preadv(self._fd, [buf], block * L.BLOCK_SIZE)
            if got < L.BLOCK_SIZE:
                buf[got:] = bytes(L.BLOCK_SIZE - got)
            if buf != _ZERO_BLOCK:
                found.append(block)
            if progress:
                progress(L.BLOCK_SIZE)
        return found

    def read_block(self, block):
        """The 2 MiB of block ``block``, zero padded past end of file."""
        data = os.pread(self._fd, L.BLOCK_SIZE, block * L.BLOCK_SIZE)
        if len(data) < L.BLOCK_SIZE:
            data = data.ljust(L.BLOCK_SIZE, b'\0')
        return data
