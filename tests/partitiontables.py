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

"""Partition tables built byte by byte, for tests that need odd ones.

Real tools (sfdisk, sgdisk) make the well-formed tables; these builders
make what no tool writes: damaged CRCs, stray headers, loops, entries
past the disk. Each returns a whole disk image as a bytearray.
"""

import json
import os
import random
import shutil
import subprocess
import tempfile
import uuid
import zlib

from xenimage_import.guest import inspector
from xenimage_import.guest import tables

SECTOR = tables.SECTOR
LINUX_FS = uuid.UUID('0FC63DAF-8483-4772-8E79-3D69D8477DE4')


def put_mbr(disk, lba, entries):
    """Write an MBR/EBR at ``lba``: ``[(status, type, first, count)]``."""
    at = lba * SECTOR
    for i, (status, kind, first, count) in enumerate(entries):
        disk[at + 446 + 16 * i:at + 462 + 16 * i] = tables.MBR_ENTRY.pack(
            tables.MBR_ENTRY.make(status=status, type=kind,
                                  first_lba=first, sectors=count))
    disk[at + 510:at + 512] = tables.MBR_SIGNATURE


def protective_mbr(disk):
    sectors = len(disk) // SECTOR
    put_mbr(disk, 0, [(0, tables.MBR_PROTECTIVE, 1,
                       min(sectors - 1, 0xFFFFFFFF))])


def gpt_entries(parts, count=128):
    """The entry array for ``parts`` (``(first_lba, last_lba)``)."""
    array = bytearray(count * tables.GPT_ENTRY.size)
    for i, (first, last) in enumerate(parts):
        array[i * 128:(i + 1) * 128] = tables.GPT_ENTRY.pack(
            tables.GPT_ENTRY.make(type_guid=LINUX_FS.bytes_le,
                                  unique_guid=uuid.uuid4().bytes_le,
                                  first_lba=first, last_lba=last))
    return array


def put_gpt_header(disk, lba, backup_lba, entries_lba=2, array=b'',
                   count=128, **changes):
    sectors = len(disk) // SECTOR
    fields = dict(
        signature=tables.GPT_SIGNATURE, revision=0x10000,
        header_size=tables.GPT_HEADER.size, current_lba=lba,
        backup_lba=backup_lba, first_usable_lba=34,
        last_usable_lba=sectors - 34, disk_guid=uuid.uuid4().bytes_le,
        entries_lba=entries_lba, entry_count=count, entry_size=128,
        entries_crc=zlib.crc32(array))
    fields.update(changes)
    header = tables.GPT_HEADER.make(**fields)
    raw = tables.GPT_HEADER.pack(header)
    if 'header_crc' not in changes:
        raw = tables.GPT_HEADER.pack(header._replace(
            header_crc=zlib.crc32(raw)))
    disk[lba * SECTOR:lba * SECTOR + len(raw)] = raw


def gpt_disk(size, parts, primary=True, backup=True, pmbr=True):
    """A disk with a GPT (both copies) holding ``parts``."""
    disk = bytearray(size)
    sectors = size // SECTOR
    array = gpt_entries(parts)
    if pmbr:
        protective_mbr(disk)
    if primary:
        disk[2 * SECTOR:2 * SECTOR + len(array)] = array
        put_gpt_header(disk, 1, sectors - 1, 2, array)
    if backup:
        at = sectors - 33
        disk[at * SECTOR:at * SECTOR + len(array)] = array
        put_gpt_header(disk, sectors - 1, 1, at, array)
    return disk


_SIGNATURES = {
    'ntfs': [(3, b'NTFS    '), (510, b'\x55\xaa')],
    'vfat': [(82, b'FAT32'), (510, b'\x55\xaa')],
    'ext4': [(1024 + 56, b'\x53\xef'), (1024 + 96, b'\x40')],
    'xfs': [(0, b'XFSB')],
    'luks': [(0, b'LUKS\xba\xbe')],
    'exfat': [(3, b'EXFAT   ')],
    'swap': [(4086, b'SWAPSPACE2')],
    'lvm2_pv': [(512, b'LABELONE'), (512 + 24, b'LVM2 001')],
}
# Bytes each needs whole: the structure its signature belongs to.
SIGNATURE_EXTENT = {'ntfs': 512, 'vfat': 512, 'ext4': 2048, 'xfs': 512,
                    'luks': 512, 'exfat': 512, 'swap': 4096,
                    'lvm2_pv': 1024}


def put_filesystem(disk, lba, fs):
    """The bytes by which ``fs`` is known, at sector ``lba``."""
    for offset, raw in _SIGNATURES[fs]:
        at = lba * SECTOR + offset
        disk[at:at + len(raw)] = raw


def windows_disk(size=8 * 1024 * 1024):
    """A GPT disk with an EFI system partition and an NTFS one."""
    disk = gpt_disk(size, [(2048, 4095), (4096, 8191)])
    put_filesystem(disk, 2048, 'vfat')
    put_filesystem(disk, 4096, 'ntfs')
    return disk


def inspect(disk, block_size=2 * 1024 * 1024, size=None):
    """The inspector's report on ``disk``, fed as the converter would."""
    size = len(disk) if size is None else size
    guest = inspector.GuestInspector(size, block_size)
    for start in range(0, len(disk), block_size):
        data = bytes(disk[start:start + block_size])
        if any(data):
            guest.feed(start // block_size, data)
    return guest.report()


# -- a corpus of valid, damaged and ambiguous tables -----------------------

CORPUS_SIZE = 16 * 1024 * 1024


def _tool(path, *argv, script=None):
    subprocess.run(list(argv) + [path], input=script, text=True,
                   check=True, capture_output=True)


def _sfdisk(path, lines):
    _tool(path, 'sfdisk', '-q', '--no-reread', '--no-tell-kernel',
          script='\n'.join(lines) + '\n')


def _blank(path, size=CORPUS_SIZE):
    with open(path, 'wb') as f:
        f.truncate(size)


def _edit(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def _flip(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _dos_one(path):
    _sfdisk(path, ['label: dos', 'start=2048, size=8192, type=83'])


def _dos_four(path):
    _sfdisk(path, ['label: dos', 'start=2048, size=4096, type=83, bootable',
                   'size=4096, type=82', 'size=4096, type=7',
                   'size=4096, type=c'])


def _dos_logical(path):
    _sfdisk(path, ['label: dos', 'start=2048, size=4096, type=83',
                   'start=8192, type=5', 'start=10240, size=4096, type=83',
                   'start=16384, size=4096, type=82',
                   'start=22528, size=2048, type=83'])


def _gpt_sfdisk(path):
    _sfdisk(path, ['label: gpt', 'start=2048, size=4096, type=L',
                   'size=4096, type=S', 'size=8192, type=U'])


def _gpt_sgdisk(path):
    _tool(path, 'sgdisk', '-n', '1:2048:+2M', '-t', '1:8300',
          '-n', '2:0:+4M', '-t', '2:8200')


def _gpt_sgdisk_hybrid(path):
    _gpt_sgdisk(path)
    _tool(path, 'sgdisk', '-h', '1')


def _gpt_sgdisk_256_entries(path):
    _tool(path, 'sgdisk', '--resize-table=256', '-n', '1:2048:+2M')


def _gpt_primary_header_crc(path):
    _gpt_sfdisk(path)
    _flip(path, SECTOR + tables.GPT_HEADER.offsets['header_crc'])


def _gpt_primary_entries(path):
    _gpt_sfdisk(path)
    _flip(path, 2 * SECTOR + 40)


def _gpt_backup_damaged(path):
    _gpt_sfdisk(path)
    _flip(path, CORPUS_SIZE - SECTOR + 20)


def _gpt_both_damaged(path):
    _gpt_primary_header_crc(path)
    _flip(path, CORPUS_SIZE - SECTOR + 20)


def _gpt_behind_plain_mbr(path):
    # A stray GPT header (sfdisk's own) behind a DOS MBR.
    _gpt_sfdisk(path)
    with open(path, 'r+b') as f:
        f.write(bytes(SECTOR))
    _tool(path, 'sfdisk', '-q', '--no-reread', '--no-tell-kernel',
          '--label', 'dos', '--wipe', 'never',
          script='start=30000, size=2000, type=83\n')


def _gpt_pmbr_size_mismatch(path):
    _gpt_sfdisk(path)
    _edit(path, 446 + tables.MBR_ENTRY.offsets['sectors'],
          (1000).to_bytes(4, 'little'))


def _gpt_pmbr_not_at_lba1(path):
    _gpt_sfdisk(path)
    _edit(path, 446 + tables.MBR_ENTRY.offsets['first_lba'],
          (2).to_bytes(4, 'little'))


def _gpt_entry_past_end(path):
    with open(path, 'r+b') as f:
        f.write(gpt_disk(CORPUS_SIZE, [(2048, 4095),
                                       (8192, CORPUS_SIZE // SECTOR + 50)]))


def _gpt_untyped_entry_with_start(path):
    disk = gpt_disk(CORPUS_SIZE, [(2048, 4095), (8192, 10239)])
    array = bytearray(disk[2 * SECTOR:2 * SECTOR + 128 * 128])
    array[128:144] = bytes(16)             # entry 2 loses its type only
    disk = gpt_disk(CORPUS_SIZE, [])
    for lba in (2, CORPUS_SIZE // SECTOR - 33):
        disk[lba * SECTOR:lba * SECTOR + len(array)] = array
    put_gpt_header(disk, 1, CORPUS_SIZE // SECTOR - 1, 2, array)
    put_gpt_header(disk, CORPUS_SIZE // SECTOR - 1, 1,
                   CORPUS_SIZE // SECTOR - 33, array)
    with open(path, 'r+b') as f:
        f.write(disk)


def _dos_odd_boot_flag(path):
    _dos_four(path)
    _edit(path, 446 + 16, b'\x01')


def _dos_ebr_two_data_entries(path):
    _dos_logical(path)
    # The first EBR (at 8192) gains a second data entry.
    put = bytearray(16)
    put[:] = tables.MBR_ENTRY.pack(tables.MBR_ENTRY.make(
        type=0x83, first_lba=6000, sectors=100))
    _edit(path, 8192 * SECTOR + 446 + 32, bytes(put))


def _dos_ebr_loop(path):
    _dos_logical(path)
    # The last EBR links back to the first.
    link = tables.MBR_ENTRY.pack(tables.MBR_ENTRY.make(
        type=0x05, first_lba=0, sectors=2048))
    _edit(path, 20480 * SECTOR + 446 + 16, link)


def _dos_past_end(path):
    _dos_one(path)
    _edit(path, 446 + tables.MBR_ENTRY.offsets['sectors'],
          (CORPUS_SIZE // SECTOR).to_bytes(4, 'little'))


def _dos_two_extended(path):
    _sfdisk(path, ['label: dos', 'start=2048, size=4096, type=5',
                   'start=8192, size=4096, type=83'])
    _edit(path, 446 + 32, tables.MBR_ENTRY.pack(tables.MBR_ENTRY.make(
        type=0x0F, first_lba=16384, sectors=4096)))
    put_mbr_file(path, 16384, [(0, 0x83, 2048, 1024)])


def _dos_ebr_unsigned(path):
    _dos_logical(path)
    _edit(path, 8192 * SECTOR + 510, b'\0\0')


def _whole_ext4(path):
    subprocess.run(['mkfs.ext4', '-q', '-F', path], check=True,
                   capture_output=True)


def _empty(path):
    pass


def put_mbr_file(path, lba, entries):
    disk = bytearray(SECTOR)
    put_mbr(disk, 0, entries)
    _edit(path, lba * SECTOR, bytes(disk))


CORPUS = {name[1:]: maker for name, maker in sorted(globals().items())
          if name.startswith(('_dos_', '_gpt_', '_whole_', '_empty'))}


def make(directory, name):
    """Write corpus disk ``name`` in ``directory``; return its path."""
    path = os.path.join(directory, name + '.img')
    _blank(path)
    CORPUS[name](path)
    return path


def inspect_file(path, block_size=2 * 1024 * 1024):
    with open(path, 'rb') as f:
        return inspect(bytearray(f.read()), block_size)


def sfdisk_view(path):
    """``(label, [(start sector, type)])`` as ``sfdisk --json`` lists it.

    Partitions of no size are left out, and a DOS label listing nothing
    counts as no table (libfdisk calls any sector ending 55 AA one).
    """
    proc = subprocess.run(['sfdisk', '--json', path], capture_output=True,
                          text=True)
    if proc.returncode:
        return None, []
    # Warnings ("Invalid flag ... of EBR") may come first on stdout.
    table = json.loads(proc.stdout[proc.stdout.index('{'):])[
        'partitiontable']
    parts = sorted((p['start'], p['type'].lower())
                   for p in table.get('partitions', []) if p['size'])
    if table['label'] == 'dos' and not parts:
        return None, []
    return table['label'], parts


def report_view(report):
    """The same pair, from an inspector report."""
    parts = sorted((p['start'] // SECTOR, p['type'].lower())
                   for p in report['partitions'] if p['size'])
    label = report['partition_table']
    if label == 'dos' and not parts:
        return None, []
    return label, parts


# -- seeded mutants: odd but self-consistent tables ------------------------

_MUTANT_BASES = ('dos_logical', 'dos_four', 'gpt_sfdisk', 'gpt_sgdisk_hybrid')


def _gpt_mutant(disk, rnd):
    """Change GPT header fields or entries, keeping every CRC valid."""
    sectors = len(disk) // SECTOR
    lba = rnd.choice((1, sectors - 1))
    header = tables.GPT_HEADER.unpack(disk[lba * SECTOR:])
    count = header.entry_count
    size = header.entry_size
    array = bytearray(disk[header.entries_lba * SECTOR:
                           header.entries_lba * SECTOR + count * size])
    changes = {}
    for _ in range(rnd.randint(1, 3)):
        what = rnd.choice(('usable', 'count', 'size', 'entry', 'entries_lba',
                           'entry', 'header_size'))
        if what == 'usable':
            changes[rnd.choice(('first_usable_lba', 'last_usable_lba'))] = \
                rnd.choice((0, 1, 2, 33, 34, sectors - 34, sectors - 1,
                            sectors, sectors + 10))
        elif what == 'count':
            count = rnd.choice((0, 1, 4, 127, 129, 256))
        elif what == 'size':
            size = rnd.choice((64, 127, 256, 512))
        elif what == 'entries_lba':
            changes['entries_lba'] = rnd.choice((0, 1, 3, sectors - 33))
        elif what == 'header_size':
            changes['header_size'] = rnd.choice((91, 93, 512, 513))
        else:
            index = rnd.randrange(4)
            entry = tables.GPT_ENTRY.make(
                type_guid=rnd.choice((bytes(16), LINUX_FS.bytes_le)),
                first_lba=rnd.choice((0, 40, 2048, sectors - 1, sectors + 5)),
                last_lba=rnd.choice((0, 39, 4095, sectors - 1, sectors * 2)))
            array[index * 128:(index + 1) * 128] = tables.GPT_ENTRY.pack(
                entry)
    array = bytes(array[:count * size]).ljust(count * size, b'\0')
    entries_lba = changes.get('entries_lba', header.entries_lba)
    disk[entries_lba * SECTOR:entries_lba * SECTOR + len(array)] = array
    changes.update(entry_count=count, entry_size=size,
                   entries_lba=entries_lba)
    put_gpt_header(disk, lba, header.backup_lba, array=array,
                   **{k: v for k, v in changes.items()})


def _dos_mutant(disk, rnd, ebrs):
    """Rewrite some MBR or EBR entries with odd but plausible values."""
    sectors = len(disk) // SECTOR
    for _ in range(rnd.randint(1, 3)):
        lba = rnd.choice([0] + ebrs)
        slot = rnd.randrange(4)
        entry = tables.MBR_ENTRY.make(
            status=rnd.choice((0, 0, 0x80, 0x01)),
            type=rnd.choice((0, 0x83, 0x05, 0x0F, 0x82, 0xEE, 0xA5)),
            first_lba=rnd.choice((0, 1, 2048, 8192, 16384, sectors - 1,
                                  sectors + 8)),
            sectors=rnd.choice((0, 1, 2048, 4096, sectors)))
        at = lba * SECTOR + tables.MBR_ENTRIES_OFFSET + 16 * slot
        disk[at:at + 16] = tables.MBR_ENTRY.pack(entry)


_BASES = {}


def _base(name):
    """A tool-made corpus disk's bytes, made once per process."""
    if name not in _BASES:
        directory = tempfile.mkdtemp(prefix='xenimage-tables-')
        try:
            with open(make(directory, name), 'rb') as f:
                _BASES[name] = f.read()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    return _BASES[name]


def make_mutant(directory, seed):
    """A seeded odd table derived from a tool-made one; its path."""
    rnd = random.Random(seed)
    base = _MUTANT_BASES[seed % len(_MUTANT_BASES)]
    disk = bytearray(_base(base))
    if base.startswith('gpt_'):
        _gpt_mutant(disk, rnd)
    else:
        _dos_mutant(disk, rnd, [8192, 14336, 20480])
    path = os.path.join(directory, 'mutant-%d.img' % seed)
    with open(path, 'wb') as f:
        f.write(disk)
    return path
