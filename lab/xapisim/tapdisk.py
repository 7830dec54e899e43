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

"""The SR side of ``import_raw_vdi``: vhd-tool reading, tapdisk writing.

SIMULATOR. Written apart from xenimage_import's VHD code on purpose (no
import of it): the SR file is what the helper's output is checked
against, so it must not come from the code under test. Two pieces:

* :func:`read_stream` reads an uploaded VHD as vhd-tool reads a stream:
  any creator, fixed or dynamic, but strictly front to back (footer copy,
  header, BAT, then blocks at rising offsets after the BAT); a block
  behind the read position is refused. Data past the VDI's size fails the
  import; a larger virtual size alone does not.
* :class:`TapdiskVdi` is a VDI file as ``vhd-util create`` makes it and
  blktap's libvhd fills it: creator ``tap`` 1.3 with a batmap; each block
  allocated at the end of the file when first written, its bitmap placed
  so the data is 4 KiB aligned, the footer rewritten behind it; a partial
  first write zero-fills the new segment from the old end of data, a
  whole-block one leaves the old footer in the gap; a bitmap bit per written
  sector; a batmap bit once the block's bitmap is full. Checked against a
  VHD blktap's libvhd wrote (tests/fixtures/blktap).
"""

import os
import struct
import time
import uuid

SECTOR = 512
BLOCK = 2 * 1024 * 1024
SECTORS_PER_BLOCK = BLOCK // SECTOR
UNUSED = 0xFFFFFFFF
# A bitmap sector with every sector of its block present.
FULL_BITMAP = b'\xff' * (SECTORS_PER_BLOCK // 8) + b'\0' * (
    SECTOR - SECTORS_PER_BLOCK // 8)
EPOCH = 946684800          # 2000-01-01 UTC, VHD timestamps count from it
DYNAMIC, FIXED, DIFFERENCING = 3, 2, 4

# Footer: cookie, features, version, data offset, timestamp, creator app,
# creator version, creator OS, original size, current size, cylinders,
# heads, sectors per track, disk type, checksum, unique id, saved state,
# hidden; 426 reserved bytes to 512 (hidden is blktap's use of a reserved
# byte).
FOOTER = struct.Struct('>8sIIQI4sI4sQQHBBII16sBB426s')
# Dynamic header: cookie, data offset, table offset, version, max table
# entries, block size, checksum, parent id, parent time, reserved, parent
# name (UTF-16), 8 parent locators (24 bytes each), reserved.
HEADER = struct.Struct('>8sQQIIII16sII512s192s256s')
# blktap's batmap header: cookie, map offset, map size (sectors), version,
# checksum of the map.
BATMAP = struct.Struct('>8sQIII')


class Refused(Exception):
    """vhd-tool or tapdisk gave up: the import fails with VDI_IO_ERROR."""


def _checksum(data, skip):
    """One's complement of the byte sum, the checksum field taken as 0."""
    total = sum(data) - sum(data[skip:skip + 4])
    return ~total & 0xFFFFFFFF


def _geometry(size):
    """CHS of the VHD specification (Appendix: CHS calculation)."""
    sectors = min(size // SECTOR, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        return sectors // spt // heads, heads, spt
    spt = 17
    cth = sectors // spt
    heads = max((cth + 1023) // 1024, 4)
    if cth >= heads * 1024 or heads > 16:
        spt, heads = 31, 16
        cth = sectors // spt
    if cth >= heads * 1024:
        spt, heads = 63, 16
        cth = sectors // spt
    return cth // heads, heads, spt


# -- vhd-tool: the upload, front to back -----------------------------------

def _read_at(f, offset, length):
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise Refused('short read at %d' % offset)
    return data


def read_stream(path, vdi_size):
    """``(virtual offset, bytes)`` of every sector run the upload holds.

    :raises Refused: not a VHD stream vhd-tool can follow, or data past
        ``vdi_size``.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        raw = _read_at(f, 0, SECTOR)
        footer = FOOTER.unpack(raw)
        if footer[0] != b'conectix' or _checksum(raw, 64) != footer[14]:
            raise Refused('no VHD footer at the start of the stream')
        disk_type, current_size = footer[13], footer[9]
        if disk_type == FIXED:
            if size - SECTOR > vdi_size:
                raise Refused('fixed VHD larger than the VDI')
            f.seek(0)
            yield from _fixed_runs(f, size - SECTOR)
            return
        if disk_type != DYNAMIC:
            raise Refused('disk type %d is not importable' % disk_type)
        raw = _read_at(f, footer[3], HEADER.size)
        header = HEADER.unpack(raw)
        if header[0] != b'cxsparse' or _checksum(raw, 36) != header[6]:
            raise Refused('no dynamic header')
        table, entries, block_size = header[2], header[4], header[5]
        if block_size != BLOCK or entries * block_size < current_size:
            raise Refused('unexpected block size or BAT')
        bat = struct.unpack('>%dI' % entries,
                            _read_at(f, table, entries * 4))
        position = table + entries * 4
        for offset, block in sorted((s * SECTOR, b)
                                    for b, s in enumerate(bat)
                                    if s != UNUSED):
            if offset < position:
                raise Refused('block %d lies behind the stream position'
                              % block)
            bitmap = _read_at(f, offset, SECTOR)
            data = _read_at(f, offset + SECTOR, BLOCK)
            position = offset + SECTOR + BLOCK
            for first, count in runs_of(bitmap):
                start = block * BLOCK + first * SECTOR
                if start + count * SECTOR > vdi_size:
                    raise Refused('data past the end of the VDI')
                yield start, data[first * SECTOR:(first + count) * SECTOR]


def _fixed_runs(f, length):
    offset = 0
    while offset < length:
        data = f.read(min(BLOCK, length - offset))
        yield offset, data
        offset += len(data)


def runs_of(bitmap):
    """(first sector, count) of each run of set bits, MSB first."""
    if bitmap == FULL_BITMAP:
        yield 0, SECTORS_PER_BLOCK
        return
    first = None
    for n in range(SECTORS_PER_BLOCK):
        bit = bitmap[n // 8] >> (7 - n % 8) & 1
        if bit and first is None:
            first = n
        elif not bit and first is not None:
            yield first, n - first
            first = None
    if first is not None:
        yield first, SECTORS_PER_BLOCK - first


# -- tapdisk: the VDI file --------------------------------------------------

class TapdiskVdi(object):
    """A VDI file of ``size`` bytes (2 MiB multiple), filled by writes."""

    def __init__(self, path, size):
        self.path = path
        self.size = size
        self.entries = size // BLOCK
        self.bat = [UNUSED] * self.entries
        self.bitmaps = {}
        self.bat_sectors = -(-self.entries * 4 // SECTOR)
        self.batmap_header = 1536 + self.bat_sectors * SECTOR
        self.batmap_sectors = max(1, -(-self.entries // 8 // SECTOR))
        self.metadata_end = (self.batmap_header + SECTOR +
                             self.batmap_sectors * SECTOR) // SECTOR
        self.next_bitmap = self._aligned(self.metadata_end)
        self.id = uuid.uuid4().bytes
        self.timestamp = int(time.time()) - EPOCH
        self.file = open(path, 'w+b')
        self._write_footer(self.metadata_end)

    def _write_footer(self, sector):
        """The footer, where the data now ends (as after every allocation)."""
        self.data_end = sector
        self.file.seek(sector * SECTOR)
        self.file.write(self._footer())

    @staticmethod
    def _aligned(sector):
        """First sector >= ``sector`` whose data (one on) is 4 KiB aligned."""
        return sector + (7 - sector % 8)

    def write(self, offset, data):
        """A guest write of whole sectors at ``offset``."""
        while data:
            block, within = divmod(offset, BLOCK)
            length = min(len(data), BLOCK - within)
            self._write_block(block, within, data[:length])
            offset += length
            data = data[length:]

    def _write_block(self, block, within, data):
        if self.bat[block] == UNUSED:
            self.bat[block] = self.next_bitmap
            self.bitmaps[block] = bytearray(SECTOR)
            end = self.next_bitmap + 1 + SECTORS_PER_BLOCK
            if len(data) < BLOCK:
                # A partial first write zero-fills the new segment from
                # the old end of data: gap, bitmap and block.
                self.file.seek(self.data_end * SECTOR)
                self.file.write(bytes((end - self.data_end) * SECTOR))
            # Else the gap keeps what was there: the footer that followed
            # the previous block.
            self._write_footer(end)
            self.next_bitmap = self._aligned(end)
        base = (self.bat[block] + 1) * SECTOR
        self.file.seek(base + within)
        self.file.write(data)
        bitmap = self.bitmaps[block]
        if len(data) == BLOCK:
            bitmap[:] = FULL_BITMAP
            return
        for n in range(within // SECTOR, (within + len(data)) // SECTOR):
            bitmap[n // 8] |= 0x80 >> (n % 8)

    def close(self):
        """Metadata and footers; the file then ends after the last block."""
        for block, bitmap in self.bitmaps.items():
            self.file.seek(self.bat[block] * SECTOR)
            self.file.write(bytes(bitmap))
        footer = self._footer()
        self.file.seek(0)
        self.file.write(footer + self._header())
        self.file.write(struct.pack('>%dI' % self.entries, *self.bat))
        self.file.seek(self.batmap_header)
        batmap = bytearray(self.batmap_sectors * SECTOR)
        for block, bitmap in self.bitmaps.items():
            if bitmap == FULL_BITMAP:
                batmap[block // 8] |= 0x80 >> (block % 8)
        checksum = ~sum(batmap) & 0xFFFFFFFF
        self.file.write(BATMAP.pack(
            b'tdbatmap', self.batmap_header + SECTOR, self.batmap_sectors,
            0x00010002, checksum).ljust(SECTOR, b'\0'))
        self.file.write(batmap)
        self.file.seek(self.data_end * SECTOR)
        self.file.write(footer)
        self.file.truncate()
        self.file.close()

    def _footer(self):
        c, h, s = _geometry(self.size)
        fields = [b'conectix', 2, 0x00010000, SECTOR, self.timestamp,
                  b'tap\0', 0x00010003, b'\0\0\0\0', self.size, self.size,
                  c, h, s, DYNAMIC, 0, self.id, 0, 0, b'']
        fields[14] = _checksum(FOOTER.pack(*fields), 64)
        return FOOTER.pack(*fields)

    def _header(self):
        fields = [b'cxsparse', 0xFFFFFFFFFFFFFFFF, 1536, 0x00010000,
                  self.entries, BLOCK, 0, b'', 0, 0, b'', b'', b'']
        fields[6] = _checksum(HEADER.pack(*fields), 36)
        return HEADER.pack(*fields)
