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

"""Read an image's stored extents in place, where qemu-img says they are.

An uncompressed qcow2, VMDK, VHD or VDI keeps each guest extent as plain
bytes somewhere in the file, and ``qemu-img map`` reports where
(``offset``): qemu's own reading of the image's tables, the same one
``qemu-img convert`` follows when it reads the guest data. So there is no
need to have qemu-img copy those bytes into a window first: they are read
straight from the file into the block buffer, one copy, as a raw image is.
No parser of ours reads the tables; the offsets are qemu's.

The map is taken again here, judged by the same budget rules as at
inspection, and kept in an anonymous file (24 bytes per extent) while the
blocks are read, so memory stays one block and qemu-img map need not
outlive its deadline. It must give the very blocks inspection found, all
stored in place, in a file of the same size, or the conversion stops: the
file changed in between.
"""

import contextlib
import os
import struct
import tempfile

from xenimage_import import exception
from xenimage_import.source import blocks
from xenimage_import.source import budget
from xenimage_import.vhd import layout as L

_ZEROS = memoryview(L.ZERO_BLOCK)      # slices without copies
# One extent of the map: disk offset, length, file offset.
_EXTENT = struct.Struct('<QQQ')
_CHANGED = ('the %s image changed after it was inspected; upload it again')


class MappedImage(blocks.BlockSource):
    """A stored-in-place source read as non-zero 2 MiB blocks."""

    def __init__(self, source):
        self.source = source
        self.size = source.virtual_size
        self._fd = os.open(source.path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def candidate_bytes(self):
        return len(self.source.data_blocks) * L.BLOCK_SIZE

    def _changed(self):
        return exception.ConversionFailed(_CHANGED % self.source.format)

    def _extents(self):
        """The judged map, read whole first, then ``(start, length, offset)``.

        qemu-img map lives under the inspection deadline, while reading
        the blocks takes as long as the image needs: so the map is taken
        at once into an anonymous file, 24 bytes per extent (at most one
        per 512 bytes of the upload, by the budget's rules), and replayed.
        """
        source = self.source
        if os.fstat(self._fd).st_size != source.file_size:
            raise self._changed()
        # Nothing compressed was found at inspection: no allowance for it.
        judge = budget.Budget(source.format, source.file_size, 0)
        extents = budget.qemu_extents(
            source.path, source.qemu_format,
            'qemu-img could not map the %s image' % source.format)
        with tempfile.TemporaryFile() as spool:
            with contextlib.closing(extents):
                for start, length, offset in extents:
                    if offset is None:
                        raise self._changed()
                    try:
                        judge.add(start, length, offset)
                    except exception.XenImageError:
                        # The same rules passed at inspection.
                        raise self._changed()
                    spool.write(_EXTENT.pack(start, length, offset))
            spool.seek(0)
            while True:
                chunk = spool.read(_EXTENT.size * 4096)
                if not chunk:
                    return
                yield from _EXTENT.iter_unpack(chunk)

    def _runs(self):
        """``(block, start in block, length, file offset)``, disk order."""
        for start, length, offset in self._extents():
            while length:
                block, within = divmod(start, L.BLOCK_SIZE)
                run = min(length, L.BLOCK_SIZE - within)
                yield block, within, run, offset
                start += run
                offset += run
                length -= run

    def data_blocks(self, progress=None):
        """Yield ``(index, data)`` for every non-zero block, in order.

        ``data`` is a buffer reused for the next block: consume it first.
        Only the parts of a block no extent covers are zeroed.
        """
        expected = iter(self.source.data_blocks)
        buf = bytearray(L.BLOCK_SIZE)
        view = memoryview(buf)
        current = None
        filled = 0
        for block, within, length, offset in self._runs():
            if block != current:
                if current is not None:
                    view[filled:] = _ZEROS[filled:]
                    if buf != L.ZERO_BLOCK:
                        yield current, buf
                if block != next(expected, None):
                    raise self._changed()
                if progress:
                    progress(L.BLOCK_SIZE)
                current = block
                filled = 0
            if within < filled:
                raise self._changed()
            view[filled:within] = _ZEROS[filled:within]
            if os.preadv(self._fd, [view[within:within + length]],
                         offset) != length:
                raise self._changed()
            filled = within + length
        if current is not None:
            view[filled:] = _ZEROS[filled:]
            if buf != L.ZERO_BLOCK:
                yield current, buf
        if next(expected, None) is not None:
            raise self._changed()
