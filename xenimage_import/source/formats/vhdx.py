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

"""Where a VHDX keeps its data, read as qemu reads it (MS-VHDX).

qemu's vhdx driver reports no block status, so ``qemu-img map`` calls the
whole disk data. The expansion budget needs the real extents: this reads
the first region table (the one qemu uses), the file parameters and size
from the metadata region, and the payload entries of the BAT.
"""

import uuid

from xenimage_import import exception
from xenimage_import.source.formats import base
from xenimage_import import structs

FILE_SIGNATURE = b'vhdxfile'           # the file type identifier at 0
REGION_TABLE_OFFSET = 192 * 1024
REGION_TABLE_SIGNATURE = b'regi'
METADATA_SIGNATURE = b'metadata'
BAT_REGION = uuid.UUID('2DC27766-F623-4200-9D64-115E9BFD4A08').bytes_le
METADATA_REGION = uuid.UUID('8B7CA206-4790-4B9A-B8FE-575F050F886E').bytes_le
FILE_PARAMETERS = uuid.UUID('CAA16737-FA36-4D43-B3B6-33F0AA44E76B').bytes_le
VIRTUAL_DISK_SIZE = uuid.UUID('2FA54224-CD1B-4876-B211-5DBED83BF4B8').bytes_le
LOGICAL_SECTOR_SIZE = uuid.UUID(
    '8141BF1D-A96F-4709-BA47-F233A8FAAB5F').bytes_le
# A sector bitmap block covers 2**23 sectors.
CHUNK_SECTORS = 1 << 23
MAX_REGIONS = 2047                   # MS-VHDX: at most 2047 entries
MAX_METADATA_ITEMS = 2047
BAT_STATE_MASK = 0x7
BAT_FULLY_PRESENT = 6
BAT_PARTIALLY_PRESENT = 7
BAT_OFFSET_SHIFT = 20                # file offset in MiB, bits 20-63
MIN_BLOCK_SIZE = 1024 * 1024
MAX_BLOCK_SIZE = 256 * 1024 * 1024

REGION_HEADER = structs.Layout('VhdxRegionHeader', [
    ('signature', '4s'), ('checksum', 'I'), ('entry_count', 'I'),
    ('reserved', 'I')], 16, byte_order='<')
REGION_ENTRY = structs.Layout('VhdxRegionEntry', [
    ('guid', '16s'), ('file_offset', 'Q'), ('length', 'I'),
    ('required', 'I')], 32, byte_order='<')
METADATA_HEADER = structs.Layout('VhdxMetadataHeader', [
    ('signature', '8s'), ('reserved', 'H'), ('entry_count', 'H'),
    ('reserved2', '20s')], 32, byte_order='<')
METADATA_ENTRY = structs.Layout('VhdxMetadataEntry', [
    ('item_id', '16s'), ('offset', 'I'), ('length', 'I'), ('flags', 'I'),
    ('reserved', 'I')], 32, byte_order='<')
_U32 = structs.Layout('U32', [('value', 'I')], 4, byte_order='<')
_U64 = structs.Layout('U64', [('value', 'Q')], 8, byte_order='<')
_BAT_CHUNK = 8192                    # entries read at a time


def _bad(reason):
    return exception.InvalidImage('vhdx image is malformed: %s' % reason)


def _read(f, offset, size):
    f.seek(offset)
    data = f.read(size)
    if len(data) < size:
        raise _bad('a structure lies past the end of the file')
    return data


def _regions(f):
    header = REGION_HEADER.unpack(_read(f, REGION_TABLE_OFFSET,
                                        REGION_HEADER.size))
    if header.signature != REGION_TABLE_SIGNATURE:
        raise _bad('no region table')
    if header.entry_count > MAX_REGIONS:
        raise _bad('%d regions' % header.entry_count)
    raw = _read(f, REGION_TABLE_OFFSET + REGION_HEADER.size,
                header.entry_count * REGION_ENTRY.size)
    return {entry.guid: entry for entry in (
        REGION_ENTRY.unpack(raw[i:i + REGION_ENTRY.size])
        for i in range(0, len(raw), REGION_ENTRY.size))}


def _metadata(f, region):
    header = METADATA_HEADER.unpack(_read(f, region.file_offset,
                                          METADATA_HEADER.size))
    if header.signature != METADATA_SIGNATURE:
        raise _bad('no metadata table')
    if header.entry_count > MAX_METADATA_ITEMS:
        raise _bad('%d metadata items' % header.entry_count)
    raw = _read(f, region.file_offset + METADATA_HEADER.size,
                header.entry_count * METADATA_ENTRY.size)
    items = {}
    for i in range(0, len(raw), METADATA_ENTRY.size):
        entry = METADATA_ENTRY.unpack(raw[i:i + METADATA_ENTRY.size])
        items[entry.item_id] = region.file_offset + entry.offset
    return items


def _item(f, items, guid, layout, name):
    if guid not in items:
        raise _bad('no %s' % name)
    return layout.unpack(_read(f, items[guid], layout.size)).value


def extents(path):
    """Yield ``(disk offset, length, file offset)`` of every data block."""
    with open(path, 'rb') as f:
        regions = _regions(f)
        if BAT_REGION not in regions or METADATA_REGION not in regions:
            raise _bad('no BAT or metadata region')
        items = _metadata(f, regions[METADATA_REGION])
        block_size = _item(f, items, FILE_PARAMETERS, _U32,
                           'file parameters')
        disk_size = _item(f, items, VIRTUAL_DISK_SIZE, _U64,
                          'virtual disk size')
        sector_size = _item(f, items, LOGICAL_SECTOR_SIZE, _U32,
                            'logical sector size')
        if not (MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE
                and block_size & (block_size - 1) == 0
                and sector_size in (512, 4096)):
            raise _bad('block size %d, sector size %d'
                       % (block_size, sector_size))
        chunk_ratio = CHUNK_SECTORS * sector_size // block_size
        blocks = structs.ceil_div(disk_size, block_size)
        bat = regions[BAT_REGION]
        if (blocks + blocks // chunk_ratio) * _U64.size > bat.length:
            raise _bad('the BAT is smaller than the disk')
        for first in range(0, blocks, _BAT_CHUNK):
            count = min(_BAT_CHUNK, blocks - first)
            # Payload entries, with a sector bitmap entry after each
            # chunk_ratio of them.
            start = first + first // chunk_ratio
            end = first + count - 1
            end += end // chunk_ratio + 1
            raw = _read(f, bat.file_offset + start * _U64.size,
                        (end - start) * _U64.size)
            for block in range(first, first + count):
                at = (block + block // chunk_ratio - start) * _U64.size
                entry = _U64.unpack(raw[at:at + _U64.size]).value
                if entry & BAT_STATE_MASK not in (BAT_FULLY_PRESENT,
                                                  BAT_PARTIALLY_PRESENT):
                    continue
                offset = block * block_size
                yield (offset, min(block_size, disk_size - offset),
                       (entry >> BAT_OFFSET_SHIFT) << 20)


FORMAT = base.SourceFormat(
    name='vhdx',
    qemu_name='vhdx',
    qemu_check=True,
    # qemu-img cannot map VHDX: our own BAT reader does, and its data is
    # always decoded by qemu-img.
    extents=extents,
)
