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

"""VHD on-disk structures and constants, declared once.

Every offset and magic number of the VHD format used by this project lives
here; the writer and the validator only name fields. All integers are
big-endian. The tap-specific batmap is blktap's extension (creator ``tap``
version >= 1.2); doc/source/reference/tap-vhd.rst states the facts.
"""

import array
import bisect
import sys

from xenimage_import import structs

SECTOR_SIZE = 512
BLOCK_SIZE = 2 * 1024 * 1024
# What an all-zero block is compared with (such blocks are not stored).
ZERO_BLOCK = bytes(BLOCK_SIZE)
SECTORS_PER_BLOCK = BLOCK_SIZE // SECTOR_SIZE
# One bitmap sector covers the 4096 sectors of a 2 MiB block.
BITMAP_SECTORS = 1
# tapdisk places block data on 4 KiB boundaries: bitmap at sector b with
# (b + 1) % DATA_ALIGN_SECTORS == 0.
DATA_ALIGN_SECTORS = 8

# Seconds from the Unix epoch to the VHD epoch, 2000-01-01T00:00:00Z.
VHD_EPOCH = 946684800
# vhd-util check tolerates footer timestamps this far in the future.
TIMESTAMP_SLACK = 1800

FOOTER_COOKIE = b'conectix'
HEADER_COOKIE = b'cxsparse'
BATMAP_COOKIE = b'tdbatmap'

FEATURES_RESERVED = 0x00000002
FILE_FORMAT_VERSION = 0x00010000
HEADER_VERSION = 0x00010000
HEADER_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
BAT_UNUSED = 0xFFFFFFFF
BAT_ENTRY_SIZE = 4

CREATOR_OS_NONE = 0
# Creator applications seen in the wild and what XenServer makes of them.
#   b'tap\0'  blktap vhd-util/tapdisk: the only one vhd-util resizes
#   b'qemu'   qemu-img -O vpc: valid, refused by ``vhd-util resize``
#   b'qem2'   qemu-img force_size=on: geometry 65535/16/255, fails check
#   b'caml'   XAPI export_raw_vdi: rebuilt VHD, not the SR's file
CREATOR_TAP = b'tap\0'
TAP_CREATOR_VERSION = 0x00010003   # 1.3; vhd-util check refuses above
BATMAP_VERSION = 0x00010002        # 1.2; vhd-util check refuses above

DISK_TYPE_FIXED = 2
DISK_TYPE_DYNAMIC = 3
DISK_TYPE_DIFFERENCING = 4
DISK_TYPES = {DISK_TYPE_FIXED: 'fixed', DISK_TYPE_DYNAMIC: 'dynamic',
              DISK_TYPE_DIFFERENCING: 'differencing'}

# blktap's MAX_VHD_SIZE: 2040 GiB keeps every sector number in a u32 BAT.
MAX_VHD_SIZE = 2040 * 1024 ** 3
MAX_BAT_ENTRIES = MAX_VHD_SIZE // BLOCK_SIZE

# CHS limits of the VHD geometry algorithm (VHD spec appendix).
CHS_MAX_SECTORS = 65535 * 16 * 255
CHS_LARGE_SECTORS = 65535 * 16 * 63


FOOTER = structs.Layout('Footer', [
    ('cookie', '8s'),
    ('features', 'I'),
    ('file_format_version', 'I'),
    ('data_offset', 'Q'),
    ('timestamp', 'I'),
    ('creator_application', '4s'),
    ('creator_version', 'I'),
    ('creator_host_os', 'I'),
    ('original_size', 'Q'),
    ('current_size', 'Q'),
    ('disk_geometry', 'I'),
    ('disk_type', 'I'),
    ('checksum', 'I'),
    ('unique_id', '16s'),
    ('saved_state', 'B'),
    ('hidden', 'B'),
    ('reserved', '426s'),
], 512)

DYNAMIC_HEADER = structs.Layout('DynamicHeader', [
    ('cookie', '8s'),
    ('data_offset', 'Q'),
    ('table_offset', 'Q'),
    ('header_version', 'I'),
    ('max_table_entries', 'I'),
    ('block_size', 'I'),
    ('checksum', 'I'),
    ('parent_unique_id', '16s'),
    ('parent_timestamp', 'I'),
    ('reserved1', 'I'),
    ('parent_unicode_name', '512s'),
    ('parent_locators', '192s'),
    ('reserved2', '256s'),
], 1024)

BATMAP_HEADER = structs.Layout('BatmapHeader', [
    ('cookie', '8s'),
    ('batmap_offset', 'Q'),
    ('batmap_size', 'I'),
    ('batmap_version', 'I'),
    ('checksum', 'I'),
    ('marker', 'B'),
    ('keyhash', '65s'),
    ('reserved', '418s'),
], 512)

FOOTER_SIZE = FOOTER.size
DYNAMIC_HEADER_OFFSET = FOOTER_SIZE
BAT_OFFSET = DYNAMIC_HEADER_OFFSET + DYNAMIC_HEADER.size


def checksum(buf, field_offset=None):
    """One's complement of the byte sum, the checksum field taken as zero."""
    total = sum(buf)
    if field_offset is not None:
        total -= sum(buf[field_offset:field_offset + 4])
    return ~total & 0xFFFFFFFF


def checksum_matches(layout, raw, record):
    """Whether ``record``, unpacked from ``raw``, carries its checksum."""
    return record.checksum == checksum(raw, layout.offsets['checksum'])


def pack_with_checksum(layout, record):
    """Pack ``record`` with its checksum field computed."""
    raw = layout.pack(record._replace(checksum=0))
    return layout.pack(record._replace(checksum=checksum(raw)))


def round_up(value, multiple):
    return structs.ceil_div(value, multiple) * multiple


def bat_bytes(entries):
    """On-disk BAT size: the entries, zero padded to a whole sector."""
    return round_up(entries * BAT_ENTRY_SIZE, SECTOR_SIZE)


def unpack_bat(raw):
    """BAT entries as an array of native unsigned ints."""
    table = array.array('I', raw[:len(raw) - len(raw) % BAT_ENTRY_SIZE])
    if sys.byteorder == 'little':
        table.byteswap()
    return table


# Runs of unused BAT entries are skipped a chunk at a time, in C.
_BAT_CHUNK = 4096
_UNUSED_CHUNK = b'\xff' * _BAT_CHUNK


def allocated_entries(raw):
    """Yield ``(index, sector)`` of each used entry of the BAT ``raw``.

    The cost follows the entries in use, not the table's length: a BAT
    declared for a 2 TiB disk holding nothing is a thousand compares.
    """
    for start in range(0, len(raw), _BAT_CHUNK):
        chunk = raw[start:start + _BAT_CHUNK]
        if chunk == _UNUSED_CHUNK[:len(chunk)]:
            continue
        first = start // BAT_ENTRY_SIZE
        for offset, entry in enumerate(unpack_bat(chunk)):
            if entry != BAT_UNUSED:
                yield first + offset, entry


class UsedBat(object):
    """The used entries of a BAT, 8 bytes each, in block order.

    What a VHD's blocks cost to hold follows the blocks it stores, never
    the entries its header declares.
    """

    def __init__(self, raw):
        self.blocks = array.array('I')
        self.sectors = array.array('I')
        for index, sector in allocated_entries(raw):
            self.blocks.append(index)
            self.sectors.append(sector)

    def __len__(self):
        return len(self.blocks)

    def _find(self, block):
        at = bisect.bisect_left(self.blocks, block)
        return at if at < len(self.blocks) and \
            self.blocks[at] == block else None

    def __contains__(self, block):
        return self._find(block) is not None

    def sector(self, block):
        """The sector of ``block``; KeyError if it is not in use."""
        at = self._find(block)
        if at is None:
            raise KeyError(block)
        return self.sectors[at]

    def items(self):
        return zip(self.blocks, self.sectors)


def set_bits(bitmap):
    """Yield the index of each set bit of ``bitmap``, MSB first.

    Zero runs are skipped a chunk at a time.
    """
    zero = bytes(_BAT_CHUNK)
    for start in range(0, len(bitmap), _BAT_CHUNK):
        chunk = bitmap[start:start + _BAT_CHUNK]
        if chunk == zero[:len(chunk)]:
            continue
        for offset, byte in enumerate(chunk):
            if byte:
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield (start + offset) * 8 + bit


def pack_bat(table):
    """Big-endian bytes of an array of BAT entries."""
    table = array.array('I', table)
    if sys.byteorder == 'little':
        table.byteswap()
    return table.tobytes()


def batmap_header_offset(table_offset, entries):
    """Where a tap VHD's batmap header sits: the sector after the BAT."""
    return round_up(table_offset + entries * BAT_ENTRY_SIZE, SECTOR_SIZE)


def batmap_sectors(entries):
    """Sectors of the tap batmap: one bit per block, at least one sector."""
    return max(1, structs.ceil_div(structs.ceil_div(entries, 8),
                                   SECTOR_SIZE))


# The batmap of the largest VHD (255 sectors): no tap VHD has a larger one.
MAX_BATMAP_SECTORS = batmap_sectors(MAX_BAT_ENTRIES)


def chs_geometry(size):
    """CHS geometry of ``size`` bytes as the footer's packed u32.

    This is the VHD specification's algorithm as blktap's ``vhd_chs``
    implements it; vhd-util check requires the footer's geometry to be no
    larger than this value for the current size.
    """
    secs = min(max(1, structs.ceil_div(size, SECTOR_SIZE)), CHS_MAX_SECTORS)
    if secs >= CHS_LARGE_SECTORS:
        spt, heads = 255, 16
        cth = secs // spt
    else:
        spt = 17
        cth = secs // spt
        heads = max(4, structs.ceil_div(cth, 1024))
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = secs // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = secs // spt
    return ((cth // heads) << 16) | (heads << 8) | spt


def geometry_sectors(geometry):
    """Sectors addressed by a packed CHS geometry."""
    return (geometry >> 16) * ((geometry >> 8) & 0xFF) * (geometry & 0xFF)
