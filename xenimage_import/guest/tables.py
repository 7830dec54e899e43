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

"""Partition tables, read as Linux reads them and as libfdisk does.

The guest's kernel decides which partitions the guest sees; util-linux's
libfdisk (``sfdisk``, ``fdisk``) is what operators and tools look with.
The two differ on damaged and odd tables: Linux ignores a GPT whose
primary header or entries fail their checks (libfdisk falls back to the
backup), takes every data entry of an EBR (libfdisk the first), and keeps
no partition table behind a boot sector with odd boot flags. Each reader
here gives its own :class:`View`; the inspector lists libfdisk's and
infers nothing where they differ. Every function takes the bytes it has
and checks each length against them.
"""

import dataclasses
import typing
import uuid
import zlib

from xenimage_import import structs

SECTOR = 512

MBR_ENTRY = structs.Layout('MbrEntry', [
    ('status', 'B'),
    ('chs_first', '3s'),
    ('type', 'B'),
    ('chs_last', '3s'),
    ('first_lba', 'I'),
    ('sectors', 'I'),
], 16, byte_order='<')
MBR_ENTRIES_OFFSET = 446
MBR_SIGNATURE_OFFSET = 510
MBR_SIGNATURE = b'\x55\xaa'
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)
MBR_ACTIVE = 0x80
# Types whose partitions Linux reads a second label inside (BSD,
# UnixWare, Minix): what it then lists is beyond this reader.
MBR_NESTED_LABELS = (0x63, 0x81, 0xA5, 0xA6, 0xA9)
# libfdisk keeps at most this many DOS partitions (primaries included).
FDISK_DOS_MAX = 60

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
GPT_PRIMARY_LBA = 1
GPT_ENTRY = structs.Layout('GptEntry', [
    ('type_guid', '16s'),
    ('unique_guid', '16s'),
    ('first_lba', 'Q'),
    ('last_lba', 'Q'),
    ('attributes', 'Q'),
    ('name', '72s'),
], 128, byte_order='<')
# Both readers refuse an entry array over 4 MiB.
GPT_MAX_ARRAY = 4 * 1024 * 1024
_NULL_GUID = bytes(16)


@dataclasses.dataclass(frozen=True)
class Slot(object):
    """One partition as a reader lists it; positions in sectors."""

    number: int
    start: int
    sectors: int
    type: str                      # '83', or a GPT type GUID, upper case
    bootable: bool = False
    container: bool = False        # an MBR extended partition

    @property
    def holds_data(self):
        return not self.container and self.sectors > 0


@dataclasses.dataclass
class View(object):
    """What one reader makes of the disk: a label and its partitions."""

    label: typing.Optional[str] = None      # 'dos', 'gpt' or None
    slots: list = dataclasses.field(default_factory=list)

    def data_slots(self):
        return sorted((s.start, s.sectors) for s in self.slots
                      if s.holds_data)


# -- MBR -------------------------------------------------------------------

def has_mbr_signature(sector):
    return len(sector) >= SECTOR and \
        sector[MBR_SIGNATURE_OFFSET:SECTOR] == MBR_SIGNATURE


def mbr_entries(sector):
    """The four entries of an MBR or EBR sector (512 bytes)."""
    if len(sector) < SECTOR:
        raise ValueError('a partition sector is 512 bytes')
    return [MBR_ENTRY.unpack(sector[MBR_ENTRIES_OFFSET + 16 * i:
                                    MBR_ENTRIES_OFFSET + 16 * (i + 1)])
            for i in range(4)]


def _mbr_type(entry):
    return '%x' % entry.type


def _cleared(entry):
    """libfdisk's test: an entry is in use if any of its bytes is set."""
    return not any(any(f) if isinstance(f, bytes) else f for f in entry)


def pmbr_linux(entries, total_sectors):
    """'protective', 'hybrid' or None, as Linux's is_pmbr_valid."""
    found = None
    for entry in entries:
        if entry.type == MBR_PROTECTIVE and \
                entry.first_lba == GPT_PRIMARY_LBA:
            found = entry
            break
    if found is None:
        return None
    if any(e.type not in (0, MBR_PROTECTIVE) for e in entries):
        return 'hybrid'
    if found.sectors not in (min(total_sectors - 1, 0xFFFFFFFF),
                             0xFFFFFFFF):
        return None
    return 'protective'


def pmbr_fdisk(entries):
    """'protective', 'hybrid' or None, as libfdisk's valid_pmbr.

    Any 0xEE entry will do: libfdisk checks that it starts at LBA 1 but
    keeps the verdict either way.
    """
    if not any(e.type == MBR_PROTECTIVE for e in entries):
        return None
    if any(e.type not in (0, MBR_PROTECTIVE) for e in entries):
        return 'hybrid'
    return 'protective'


def linux_reads_dos(entries):
    """Linux keeps no DOS table when a boot flag is neither 0 nor 0x80."""
    return all(e.status in (0, MBR_ACTIVE) for e in entries)


def dos_primaries(entries):
    """``(linux, fdisk)`` slots of the four primary entries."""
    linux, fdisk = [], []
    for number, entry in enumerate(entries, 1):
        container = entry.type in MBR_EXTENDED
        slot = Slot(number, entry.first_lba, entry.sectors, _mbr_type(entry),
                    entry.status == MBR_ACTIVE, container)
        if entry.sectors:
            linux.append(slot)
        if not _cleared(entry):
            fdisk.append(slot)
    return linux, fdisk


def ebr_linux(sector, this_lba, this_sectors, first_lba, first_sectors):
    """Linux's reading of one EBR: (data slots, next link or None).

    A link is ``(lba, sectors)`` of the next EBR; slots are unnumbered
    (number 0), Linux numbers them in the order it finds them.
    """
    if not has_mbr_signature(sector):
        return [], None
    entries = mbr_entries(sector)
    found = []
    for index, entry in enumerate(entries):
        if not entry.sectors or entry.type in MBR_EXTENDED:
            continue
        start = this_lba + entry.first_lba
        if index >= 2 and (
                entry.first_lba + entry.sectors > this_sectors
                or start < first_lba
                or start + entry.sectors > first_lba + first_sectors):
            continue            # Linux's guard against garbage in 3 and 4
        found.append(Slot(0, start, entry.sectors, _mbr_type(entry)))
    link = next((e for e in entries
                 if e.sectors and e.type in MBR_EXTENDED), None)
    if link is None:
        return found, None
    return found, (first_lba + link.first_lba, link.sectors)


def ebr_fdisk(sector, this_lba, extended_lba):
    """libfdisk's reading of one EBR: (its slot or None, next EBR or None).

    libfdisk reads the entries whatever the signature, keeps the first
    data entry, and follows the first link (or its odd fallback).
    """
    entries = mbr_entries(sector)
    data = link = None
    for entry in entries:
        if not entry.sectors:
            continue
        if entry.type in MBR_EXTENDED:
            link = link or entry
        elif entry.type:
            data = data or entry
    if data is None:
        data = entries[0] if entries[0] is not link else entries[1]
    if link is None:
        link = entries[0] if entries[0] is not data else entries[1]
    slot = None
    if not _cleared(data):
        slot = Slot(0, this_lba + data.first_lba, data.sectors,
                    _mbr_type(data), data.status == MBR_ACTIVE)
    if link.type not in MBR_EXTENDED:
        return slot, None
    return slot, extended_lba + link.first_lba


# -- GPT -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GptHeader(object):
    """A GPT header and which readers accept it (before its entries)."""

    fields: typing.Any
    linux: bool
    fdisk: bool
    fdisk_versions_agree: bool = True

    @property
    def array_bytes(self):
        return self.fields.entry_count * self.fields.entry_size


def gpt_header(sector, lba, total_sectors):
    """Judge the GPT header in ``sector`` (read at ``lba``); or None.

    None when neither reader could take it; otherwise which of them
    would, judged on everything but the entry array's CRC.
    """
    if len(sector) < SECTOR or sector[:8] != GPT_SIGNATURE:
        return None
    h = GPT_HEADER.unpack(sector)
    if not GPT_HEADER.size <= h.header_size <= SECTOR:
        return None
    raw = bytearray(sector[:h.header_size])
    crc_at = GPT_HEADER.offsets['header_crc']
    raw[crc_at:crc_at + 4] = bytes(4)
    if zlib.crc32(raw) != h.header_crc or h.current_lba != lba:
        return None
    last = total_sectors - 1
    usable = (h.first_usable_lba <= h.last_usable_lba <= last)
    array = h.entry_count * h.entry_size
    linux = (usable and h.entry_size == GPT_ENTRY.size
             and 0 < array <= GPT_MAX_ARRAY)
    # libfdisk before 2.39 takes any entry size and array; 2.39 on wants
    # whole entries, at most 4 MiB of them, below the first usable LBA.
    # Either is libfdisk: where they differ, the header is not trusted.
    fdisk = (usable and array > 0
             and not (h.first_usable_lba < GPT_PRIMARY_LBA
                      < h.last_usable_lba))
    fdisk_since_2_39 = (fdisk and h.entry_size >= GPT_ENTRY.size
                        and array <= GPT_MAX_ARRAY
                        and array // SECTOR < h.first_usable_lba)
    if fdisk and array > GPT_MAX_ARRAY:
        fdisk = False                  # beyond what this reader holds
    if not (linux or fdisk):
        return None
    return GptHeader(h, linux, fdisk, fdisk == fdisk_since_2_39)


def gpt_entries_valid(header, array):
    """Whether ``array`` (the header's whole entry array) matches its CRC."""
    return len(array) == header.array_bytes and \
        zlib.crc32(array) == header.fields.entries_crc


def _guid(raw):
    return str(uuid.UUID(bytes_le=bytes(raw))).upper()


def gpt_slots(header, array, total_sectors, limit):
    """``(linux, fdisk, more)`` slots of a checked entry array.

    At most ``limit`` used entries are listed; ``more`` says whether the
    array held others.
    """
    size = header.fields.entry_size
    last = total_sectors - 1
    linux, fdisk = [], []
    for index in range(header.fields.entry_count):
        # Entries of another size are read at their stride, 128 bytes
        # each, as libfdisk before 2.39 reads them (Linux takes none).
        raw = array[index * size:index * size + GPT_ENTRY.size]
        if not raw:
            break
        raw = raw.ljust(GPT_ENTRY.size, b'\0')
        entry = GPT_ENTRY.unpack(raw)
        typed = entry.type_guid != _NULL_GUID
        if not (typed or entry.first_lba):
            continue
        if len(fdisk) >= limit:
            return linux, fdisk, True
        sectors = (entry.last_lba - entry.first_lba + 1
                   if entry.last_lba >= entry.first_lba else 0)
        slot = Slot(index + 1, entry.first_lba, sectors,
                    _guid(entry.type_guid))
        fdisk.append(slot)
        if typed and entry.first_lba <= last and entry.last_lba <= last \
                and sectors:
            linux.append(slot)
    return linux, fdisk, False
