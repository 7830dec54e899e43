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

"""Write dynamic VHDs laid out exactly as blktap's vhd-util and tapdisk do.

The whole file is planned before the first byte is written (the BAT sits in
front of the data and a tar header needs the total size), so the writer is a
single forward pass that can feed a pipe, a tar member or a gzip stream.
"""

import array
import time
import uuid

from xenimage_import import exception
from xenimage_import.vhd import layout as L

_BITMAP_FULL = b'\xff' * (L.BITMAP_SECTORS * L.SECTOR_SIZE)
# Sectors from one block's bitmap to the next: bitmap, data, then the zero
# gap that puts the following bitmap at (b + 1) % 8 == 0.
_BLOCK_STRIDE = L.round_up(L.BITMAP_SECTORS + L.SECTORS_PER_BLOCK,
                           L.DATA_ALIGN_SECTORS)
_GAP_AND_BITMAP = bytes((_BLOCK_STRIDE - L.BITMAP_SECTORS
                         - L.SECTORS_PER_BLOCK) * L.SECTOR_SIZE) + _BITMAP_FULL


def _first_aligned_bitmap(sector):
    """First sector >= ``sector`` whose successor is 4 KiB aligned."""
    return L.round_up(sector + 1, L.DATA_ALIGN_SECTORS) - 1


class TapVhdPlan(object):
    """Where every structure of a tap VHD goes, for a size and its blocks.

    The metadata in front of the data has a fixed size for a given virtual
    size, so blocks can be appended (:meth:`add`) as they are found and the
    metadata written last, into the space reserved for it.

    :param virtual_size: size of the disk in bytes; rounded up to whole
        2 MiB blocks as ``vhd-util create`` does.
    :param blocks: indexes of blocks known to hold data, in any order.
    """

    def __init__(self, virtual_size, blocks=()):
        if virtual_size <= 0:
            raise exception.ImageTooSmall(virtual_size)
        self.requested_size = virtual_size
        self.size = L.round_up(virtual_size, L.BLOCK_SIZE)
        if self.size > L.MAX_VHD_SIZE:
            raise exception.ImageTooLarge(virtual_size, L.MAX_VHD_SIZE,
                                          'the VHD format limit')
        self.entries = self.size // L.BLOCK_SIZE
        self.batmap_header_offset = L.BAT_OFFSET + L.bat_bytes(self.entries)
        self.batmap_offset = self.batmap_header_offset + L.BATMAP_HEADER.size
        self.batmap_sectors = L.batmap_sectors(self.entries)
        metadata_end = (self.batmap_offset // L.SECTOR_SIZE
                        + self.batmap_sectors)
        self.first_bitmap_sector = _first_aligned_bitmap(metadata_end)
        self.metadata_size = self.first_bitmap_sector * L.SECTOR_SIZE
        self.blocks = array.array('I')
        for block in sorted(set(blocks)):
            self.add(block)

    def add(self, block):
        """Append a data block; return the bytes that precede its data.

        Blocks must come in increasing order, as tapdisk writes them.
        """
        if not 0 <= block < self.entries:
            raise ValueError('block %d beyond the end of a %d-block disk'
                             % (block, self.entries))
        if self.blocks and block <= self.blocks[-1]:
            raise ValueError('block %d after block %d' % (block,
                                                          self.blocks[-1]))
        self.blocks.append(block)
        return _BITMAP_FULL if len(self.blocks) == 1 else _GAP_AND_BITMAP

    @property
    def footer_offset(self):
        if not self.blocks:
            return self.metadata_size
        return (self.bitmap_sector(len(self.blocks) - 1)
                + L.BITMAP_SECTORS + L.SECTORS_PER_BLOCK) * L.SECTOR_SIZE

    @property
    def file_size(self):
        return self.footer_offset + L.FOOTER_SIZE

    def bitmap_sector(self, nth):
        """Sector of the bitmap of the ``nth`` stored block."""
        return self.first_bitmap_sector + nth * _BLOCK_STRIDE

    def bat(self):
        table = array.array('I', [L.BAT_UNUSED]) * self.entries
        for nth, block in enumerate(self.blocks):
            table[block] = self.bitmap_sector(nth)
        return L.pack_bat(table).ljust(L.bat_bytes(self.entries), b'\0')

    def batmap(self):
        bits = bytearray(self.batmap_sectors * L.SECTOR_SIZE)
        for block in self.blocks:
            bits[block // 8] |= 0x80 >> (block % 8)
        return bytes(bits)

    def footer(self, timestamp, unique_id):
        record = L.FOOTER.make(
            cookie=L.FOOTER_COOKIE,
            features=L.FEATURES_RESERVED,
            file_format_version=L.FILE_FORMAT_VERSION,
            data_offset=L.DYNAMIC_HEADER_OFFSET,
            timestamp=timestamp,
            creator_application=L.CREATOR_TAP,
            creator_version=L.TAP_CREATOR_VERSION,
            creator_host_os=L.CREATOR_OS_NONE,
            original_size=self.size,
            current_size=self.size,
            disk_geometry=L.chs_geometry(self.size),
            disk_type=L.DISK_TYPE_DYNAMIC,
            unique_id=unique_id)
        return L.pack_with_checksum(L.FOOTER, record)

    def dynamic_header(self):
        record = L.DYNAMIC_HEADER.make(
            cookie=L.HEADER_COOKIE,
            data_offset=L.HEADER_DATA_OFFSET,
            table_offset=L.BAT_OFFSET,
            header_version=L.HEADER_VERSION,
            max_table_entries=self.entries,
            block_size=L.BLOCK_SIZE)
        return L.pack_with_checksum(L.DYNAMIC_HEADER, record)

    def batmap_header(self, batmap):
        record = L.BATMAP_HEADER.make(
            cookie=L.BATMAP_COOKIE,
            batmap_offset=self.batmap_offset,
            batmap_size=self.batmap_sectors,
            batmap_version=L.BATMAP_VERSION,
            checksum=L.checksum(batmap))
        return L.BATMAP_HEADER.pack(record)

    def metadata(self, footer):
        """Everything in front of the first data block."""
        batmap = self.batmap()
        head = b''.join([footer, self.dynamic_header(), self.bat(),
                         self.batmap_header(batmap), batmap])
        return head.ljust(self.metadata_size, b'\0')


def vhd_timestamp(now=None):
    """Footer timestamp: seconds since the VHD epoch."""
    return int(now if now is not None else time.time()) - L.VHD_EPOCH


def new_identity(timestamp=None, unique_id=None):
    """(timestamp, unique id) for a new VHD's footer: now, random UUID."""
    return (vhd_timestamp() if timestamp is None else timestamp,
            uuid.uuid4().bytes if unique_id is None else unique_id)
