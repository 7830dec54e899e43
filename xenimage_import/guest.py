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

"""What the guest disk holds, learned from the conversion's own pass.

The converter hands every non-zero block to :class:`GuestInspector`, in
disk order. It keeps only the sectors it needs as they stream past: the
MBR and GPT first, then, once the partition table says where partitions
start, each partition's first 4 KiB and the 4 KiB at +64 KiB (btrfs).
Blocks never handed over read as zeros. Nothing is mounted, nothing read
twice; memory is bounded by the partition count (at most
:data:`MAX_PARTITIONS` captures of 8 KiB).

From that layout it derives what Nova's XenAPI driver needs to know:
``os_type`` (``windows`` for an NTFS partition with its boot sector,
``linux`` for Linux filesystems, LVM or swap) and ``auto_disk_config``
(``True`` only for exactly one partition holding ext2/3/4, the one case
the driver can resize; ``Disabled`` otherwise). doc/source/reference/
guest-inspection.rst states the signatures.
"""

import bisect
import dataclasses
import struct

from xenimage_import import structs

SECTOR = 512
MAX_PARTITIONS = 128
# MBR logical partitions followed before giving up on a chain of EBRs.
MAX_LOGICAL = 64
_HEAD = 4096                       # captured at each partition's start
_BTRFS_OFFSET = 64 * 1024           # btrfs superblock
_BOOT_SIGNATURE = b'\x55\xaa'

MBR_ENTRY = structs.Layout('MbrEntry', [
    ('status', 'B'),
    ('chs_first', '3s'),
    ('type', 'B'),
    ('chs_last', '3s'),
    ('first_lba', 'I'),
    ('sectors', 'I'),
], 16, byte_order='<')
MBR_ENTRIES_OFFSET = 446
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)
MBR_ACTIVE = 0x80

GPT_HEADER = structs.Layout('GptHeader', [
    ('signature', '8s'),
    ('revision', 'I'),
    ('header_size', 'I'),
    ('header_crc', 'I'),
    ('reserved', 'I'),
    ('current_lba', 'Q'),
    ('backup_lba', 'Q'),
    ('first_usable_lba', 'Q'),
    ('last_usable_lba', 'Q'),
    ('disk_guid', '16s'),
    ('entries_lba', 'Q'),
    ('entry_count', 'I'),
    ('entry_size', 'I'),
    ('entries_crc', 'I'),
], 92, byte_order='<')
GPT_SIGNATURE = b'EFI PART'
GPT_ENTRY = structs.Layout('GptEntry', [
    ('type_guid', '16s'),
    ('unique_guid', '16s'),
    ('first_lba', 'Q'),
    ('last_lba', 'Q'),
    ('attributes', 'Q'),
    ('name', '72s'),
], 128, byte_order='<')
GPT_MAX_ENTRY_SIZE = 4096

# ext2/3/4 superblock at 1024: magic at +56, features at +92/+96/+100.
_EXT_SB = 1024
_EXT_MAGIC = b'\x53\xef'
_EXT3_HAS_JOURNAL = 0x4
_EXT4_INCOMPAT = 0x40 | 0x80 | 0x200          # extents, 64bit, flex_bg
_EXT4_RO_COMPAT = 0x8 | 0x20 | 0x40 | 0x400   # huge_file, dir_nlink, ...
LINUX_FILESYSTEMS = ('ext2', 'ext3', 'ext4', 'xfs', 'btrfs')
LINUX_OTHER = ('swap', 'lvm2_pv')


def filesystem(head, btrfs=b''):
    """Name of what starts with ``head`` (4 KiB), or None."""
    if head[3:11] == b'NTFS    ' and head[510:512] == _BOOT_SIGNATURE:
        return 'ntfs'
    if head[3:11] == b'EXFAT   ':
        return 'exfat'
    if head[:6] == b'LUKS\xba\xbe':
        return 'luks'
    if head[:4] == b'XFSB':
        return 'xfs'
    if head[_EXT_SB + 56:_EXT_SB + 58] == _EXT_MAGIC:
        compat, incompat, ro_compat = struct.unpack_from(
            '<III', head, _EXT_SB + 92)
        if incompat & _EXT4_INCOMPAT or ro_compat & _EXT4_RO_COMPAT:
            return 'ext4'
        return 'ext3' if compat & _EXT3_HAS_JOURNAL else 'ext2'
    if head[4086:4096] in (b'SWAPSPACE2', b'SWAP-SPACE'):
        return 'swap'
    for sector in range(4):
        label = head[sector * SECTOR:(sector + 1) * SECTOR]
        if label[:8] == b'LABELONE' and label[24:32] == b'LVM2 001':
            return 'lvm2_pv'
    if btrfs[64:72] == b'_BHRfS_M':
        return 'btrfs'
    if head[510:512] == _BOOT_SIGNATURE and (
            head[82:87] == b'FAT32' or head[54:59] in (b'FAT12', b'FAT16')):
        return 'vfat'
    return None


@dataclasses.dataclass
class Partition(object):
    number: int
    start: int                     # bytes
    size: int                      # bytes
    active: bool = False
    head: bytearray = None
    btrfs: bytearray = None
    filesystem: str = None

    def as_dict(self):
        return {'number': self.number, 'start': self.start,
                'size': self.size, 'filesystem': self.filesystem,
                'bootable': self.active}


class _Capture(object):
    """``length`` bytes at ``offset``, filled as blocks stream past."""

    def __init__(self, offset, length, on_done=None):
        self.offset = offset
        self.buf = bytearray(length)
        self.on_done = on_done

    @property
    def end(self):
        return self.offset + len(self.buf)


class GuestInspector(object):
    """Feed it ``(block, data)`` in disk order; ask :meth:`report`."""

    def __init__(self, disk_size, block_size):
        self.disk_size = disk_size
        self.block_size = block_size
        self.table = None              # 'mbr', 'gpt' or None
        self.partitions = []
        self.whole_disk = None         # Partition for a disk without table
        self.incomplete = False        # something lay behind the stream
        self._pending = []             # _Capture, sorted by offset
        self._fed_end = 0              # end of the last block fed
        self._logical = 0
        self._want(0, 2 * SECTOR, self._tables)

    # -- capture bookkeeping -------------------------------------------

    def _want(self, offset, length, on_done=None):
        length = max(0, min(length, self.disk_size - offset))
        capture = _Capture(offset, length, on_done)
        if offset < self._fed_end:
            # Data already streamed past (a table pointing backwards).
            self.incomplete = True
            return capture
        keys = [c.offset for c in self._pending]
        self._pending.insert(bisect.bisect(keys, offset), capture)
        return capture

    def _complete(self, capture):
        self._pending.remove(capture)
        if capture.on_done:
            capture.on_done(capture)

    def _advance(self, offset):
        # Captures wholly before ``offset`` lay in zero blocks: complete.
        while self._pending and self._pending[0].end <= offset:
            self._complete(self._pending[0])

    def feed(self, block, data):
        """Take what is wanted from ``data``, block ``block`` of the disk."""
        start = block * self.block_size
        end = start + len(data)
        self._advance(start)
        progress = True
        while progress:
            # A finished capture may ask for more of this same block.
            progress = False
            for capture in self._pending:
                if capture.offset >= end:
                    break
                lo, hi = max(start, capture.offset), min(end, capture.end)
                if lo < hi:
                    capture.buf[lo - capture.offset:hi - capture.offset] = \
                        data[lo - start:hi - start]
                if capture.end <= end:
                    self._complete(capture)
                    progress = True
                    break
        self._fed_end = end

    def finish(self):
        """Complete every capture left: the rest of the disk is zeros."""
        self._advance(float('inf'))

    # -- partition tables ------------------------------------------------

    def _tables(self, capture):
        mbr, gpt = bytes(capture.buf[:SECTOR]), bytes(capture.buf[SECTOR:])
        header = GPT_HEADER.unpack(gpt[:GPT_HEADER.size]) if len(
            gpt) >= GPT_HEADER.size else None
        if header and header.signature == GPT_SIGNATURE:
            self._gpt(header)
        elif not (mbr[510:512] == _BOOT_SIGNATURE and self._mbr(mbr)):
            self.whole_disk = self._partition(0, 0, self.disk_size)

    def _partition(self, number, start, size, active=False):
        part = Partition(number, start, size, active)
        part.head = self._want(start, _HEAD).buf
        part.btrfs = self._want(start + _BTRFS_OFFSET, _HEAD).buf
        return part

    def _add(self, number, start, size, active=False):
        if len(self.partitions) >= MAX_PARTITIONS or size <= 0 \
                or start >= self.disk_size:
            return
        self.partitions.append(self._partition(number, start, size,
                                               active))

    def _mbr(self, sector):
        entries = [MBR_ENTRY.unpack(sector[MBR_ENTRIES_OFFSET + 16 * i:
                                           MBR_ENTRIES_OFFSET + 16 * i + 16])
                   for i in range(4)]
        used = [e for e in entries if e.type and e.sectors]
        if not used or any(e.status not in (0, MBR_ACTIVE) for e in used):
            return False               # a boot sector, not a table
        self.table = 'mbr'
        for number, entry in enumerate(entries, 1):
            if not entry.type or not entry.sectors:
                continue
            if entry.type in MBR_EXTENDED:
                self._ebr(entry.first_lba, entry.first_lba)
            else:
                self._add(number, entry.first_lba * SECTOR,
                          entry.sectors * SECTOR, entry.status == MBR_ACTIVE)
        return True

    def _ebr(self, extended_lba, ebr_lba):
        def parse(capture):
            sector = bytes(capture.buf)
            if sector[510:512] != _BOOT_SIGNATURE:
                return
            logical = MBR_ENTRY.unpack(sector[MBR_ENTRIES_OFFSET:
                                              MBR_ENTRIES_OFFSET + 16])
            link = MBR_ENTRY.unpack(sector[MBR_ENTRIES_OFFSET + 16:
                                           MBR_ENTRIES_OFFSET + 32])
            self._logical += 1
            if logical.type and logical.sectors:
                self._add(4 + self._logical,
                          (ebr_lba + logical.first_lba) * SECTOR,
                          logical.sectors * SECTOR)
            next_lba = extended_lba + link.first_lba
            if (link.type in MBR_EXTENDED and link.first_lba
                    and next_lba > ebr_lba
                    and self._logical < MAX_LOGICAL):
                self._ebr(extended_lba, next_lba)
        self._want(ebr_lba * SECTOR, SECTOR, parse)

    def _gpt(self, header):
        self.table = 'gpt'
        size = header.entry_size
        count = min(header.entry_count, MAX_PARTITIONS)
        if size < GPT_ENTRY.size or size > GPT_MAX_ENTRY_SIZE or size % 8:
            self.incomplete = True
            return

        def parse(capture):
            raw = bytes(capture.buf)
            for i in range(count):
                entry = GPT_ENTRY.unpack(raw[i * size:i * size
                                             + GPT_ENTRY.size])
                if not any(entry.type_guid) or entry.last_lba < \
                        entry.first_lba:
                    continue
                self._add(i + 1, entry.first_lba * SECTOR,
                          (entry.last_lba - entry.first_lba + 1) * SECTOR)
        self._want(header.entries_lba * SECTOR, count * size, parse)

    # -- the verdict -------------------------------------------------------

    def report(self):
        """The layout and what follows from it, as a plain dict."""
        self.finish()
        parts = self.partitions
        for part in parts + ([self.whole_disk] if self.whole_disk else []):
            part.filesystem = filesystem(bytes(part.head), bytes(part.btrfs))
        found = {p.filesystem for p in parts if p.filesystem}
        if self.whole_disk and self.whole_disk.filesystem:
            found.add(self.whole_disk.filesystem)
        os_type = None
        if 'ntfs' in found:
            os_type = 'windows'
        elif found & set(LINUX_FILESYSTEMS + LINUX_OTHER):
            os_type = 'linux'
        auto_disk_config = None
        if self.incomplete:
            # Part of the layout was not seen: infer nothing from it.
            os_type = None
        elif self.table or (self.whole_disk and self.whole_disk.filesystem):
            single_ext = (len(parts) == 1 and parts[0].filesystem
                          in ('ext2', 'ext3', 'ext4'))
            auto_disk_config = 'True' if single_ext else 'Disabled'
        return {
            'partition_table': self.table,
            'partitions': [p.as_dict() for p in parts],
            'whole_disk_filesystem': (self.whole_disk.filesystem
                                      if self.whole_disk else None),
            'os_type': os_type,
            'auto_disk_config': auto_disk_config,
            'complete': not self.incomplete,
        }


def summary(report):
    """One line for users and for the ``xenimage_inspection`` property."""
    if report['partition_table']:
        parts = ', '.join('%d:%s' % (p['number'], p['filesystem'] or '?')
                          for p in report['partitions'])
        layout = '%s [%s]' % (report['partition_table'], parts or 'empty')
    elif report['whole_disk_filesystem']:
        layout = 'no partition table, %s' % report['whole_disk_filesystem']
    else:
        layout = 'no partition table or filesystem found'
    return '%s; os_type=%s; auto_disk_config=%s' % (
        layout, report['os_type'] or '?', report['auto_disk_config'] or '?')
