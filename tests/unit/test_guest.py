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

"""The guest inspector on tables no tool writes.

Well-formed tables from sfdisk and the real mkfs tools are in
tests/functional/test_guest_inspection.py; the differential against
``sfdisk --json`` in tests/functional/test_partition_tables.py.
"""

import testtools

from tests import partitiontables as pt
from xenimage_import.guest import filesystems
from xenimage_import.guest import inspector
from xenimage_import.guest import tables

MiB = 1024 * 1024
SIZE = 8 * MiB


def _ext4_at(disk, lba):
    pt.put_filesystem(disk, lba, 'ext4')


class GptTest(testtools.TestCase):

    def test_a_valid_gpt_is_trusted(self):
        disk = pt.gpt_disk(SIZE, [(2048, 4095)])
        _ext4_at(disk, 2048)
        report = pt.inspect(disk)
        self.assertIsNone(report['unknown'])
        self.assertEqual(('gpt', 'linux', 'True'), (
            report['partition_table'], report['os_type'],
            report['auto_disk_config']))

    def test_damaged_primary_lists_the_backup_and_infers_nothing(self):
        # libfdisk falls back to the backup; Linux reads no partition.
        disk = pt.gpt_disk(SIZE, [(2048, 4095)])
        _ext4_at(disk, 2048)
        disk[2 * pt.SECTOR] ^= 0xFF           # entry array CRC now wrong
        report = pt.inspect(disk)
        self.assertEqual('gpt', report['partition_table'])
        self.assertEqual([2048 * 512], [p['start']
                                        for p in report['partitions']])
        self.assertIn('primary GPT is damaged', report['unknown'])
        self.assertEqual((None, None), (report['os_type'],
                                        report['auto_disk_config']))

    def test_gpt_header_behind_a_plain_dos_mbr_is_ignored(self):
        disk = pt.gpt_disk(SIZE, [(2048, 4095)], pmbr=False)
        pt.put_mbr(disk, 0, [(0, 0x83, 4096, 2048)])
        _ext4_at(disk, 4096)
        report = pt.inspect(disk)
        self.assertEqual(('dos', [4096 * 512], 'True'), (
            report['partition_table'],
            [p['start'] for p in report['partitions']],
            report['auto_disk_config']))

    def test_entry_size_only_libfdisk_accepts_is_doubted(self):
        disk = bytearray(SIZE)
        pt.protective_mbr(disk)
        array = bytes(256 * 128)
        pt.put_gpt_header(disk, 1, SIZE // 512 - 1, 2, array,
                          entry_size=256)
        report = pt.inspect(disk)
        self.assertIsNotNone(report['unknown'])
        self.assertIsNone(report['os_type'])

    def test_huge_entry_count_is_refused_by_both_readers(self):
        disk = pt.gpt_disk(SIZE, [(2048, 4095)], backup=False)
        pt.put_gpt_header(disk, 1, SIZE // 512 - 1, 2, bytes(128),
                          entry_count=0xFFFFFFFF)
        report = pt.inspect(disk)
        self.assertIn('damaged', report['unknown'])

    def test_entries_naming_what_streamed_past_are_unknown(self):
        # The entry array lies in block 1 and names a partition in block
        # 0, already written: its filesystem cannot be known.
        disk = bytearray(SIZE)
        pt.protective_mbr(disk)
        array = pt.gpt_entries([(2048, 4095)])
        disk[4096 * 512:4096 * 512 + len(array)] = array
        pt.put_gpt_header(disk, 1, SIZE // 512 - 1, 4096, array)
        _ext4_at(disk, 2048)
        report = pt.inspect(disk)
        self.assertIn('behind', report['unknown'])
        self.assertIsNone(report['os_type'])

    def test_partition_past_the_end_is_doubted(self):
        disk = pt.gpt_disk(SIZE, [(2048, SIZE // 512 + 100)])
        report = pt.inspect(disk)
        self.assertIsNotNone(report['unknown'])
        self.assertIsNone(report['auto_disk_config'])


class DosTest(testtools.TestCase):

    def test_ebr_linking_to_itself_is_listed_as_libfdisk_and_doubted(self):
        # libfdisk follows the loop until its 60 partitions; Linux until
        # its own limit: the chain is walked from memory, never re-read.
        disk = bytearray(SIZE)
        pt.put_mbr(disk, 0, [(0, 0x05, 4096, 8192)])
        pt.put_mbr(disk, 4096, [(0, 0x83, 2048, 1024), (0, 0x05, 0, 8192)])
        report = pt.inspect(disk)
        numbers = [p['number'] for p in report['partitions']]
        self.assertEqual([1] + list(range(5, tables.FDISK_DOS_MAX + 1)),
                         numbers)
        self.assertIn('loops', report['unknown'])

    def test_odd_boot_flags_are_not_a_table_to_linux(self):
        sector = bytearray(SIZE)
        sector[3:11] = b'NTFS    '
        sector[446:510] = b'\x33' * 64     # boot code, not entries
        sector[510:512] = b'\x55\xaa'
        report = pt.inspect(sector)
        self.assertIn('boot flags', report['unknown'])
        self.assertIsNone(report['os_type'])

    def test_whole_disk_ntfs_as_mkntfs_writes_it(self):
        sector = bytearray(SIZE)
        sector[3:11] = b'NTFS    '
        sector[510:512] = b'\x55\xaa'
        report = pt.inspect(sector)
        self.assertEqual((None, 'ntfs', 'windows', 'Disabled'), (
            report['partition_table'], report['whole_disk_filesystem'],
            report['os_type'], report['auto_disk_config']))

    def test_partitions_in_unallocated_blocks_read_as_zeros(self):
        disk = bytearray(SIZE)
        pt.put_mbr(disk, 0, [(0x80, 0x83, 8192, 4096)])
        report = pt.inspect(disk)
        self.assertEqual([(1, None, True)], [
            (p['number'], p['filesystem'], p['bootable'])
            for p in report['partitions']])
        self.assertIsNone(report['unknown'])


class AdvisoryTest(testtools.TestCase):

    def test_every_clip_length_gives_a_report(self):
        # The same tables on disks cut at every sector: never an error,
        # always a well-formed report.
        full = pt.gpt_disk(SIZE, [(2048, 4095), (4096, 8191)])
        pt.put_mbr(full, 0, [(0, 0xEE, 1, 0xFFFFFFFF), (0, 0x05, 40, 9000)])
        for cut in list(range(0, 80 * 512, 97)) + [SIZE - 1, SIZE - 511]:
            report = pt.inspect(full[:cut] if cut else full[:1], size=cut)
            self.assertIn(report['complete'], (True, False))
            self.assertTrue(inspector.summary(report))

    def test_an_error_inside_becomes_unknown(self):
        guest = inspector.GuestInspector(SIZE, 2 * MiB)
        guest._pending[0].on_done = lambda capture: 1 / 0
        guest.feed(0, bytes(2 * MiB))
        report = guest.report()
        self.assertEqual('inspection error: ZeroDivisionError',
                         report['unknown'])


class FilesystemTest(testtools.TestCase):

    def test_a_signature_counts_only_with_its_whole_structure(self):
        # Every clip length of every head: a name only once the whole
        # superblock or boot sector it lives in is there.
        for fs, extent in sorted(pt.SIGNATURE_EXTENT.items()):
            head = bytearray(filesystems.HEAD)
            pt.put_filesystem(head, 0, fs)
            for length in range(filesystems.HEAD + 1):
                self.assertEqual(fs if length >= extent else None,
                                 filesystems.name(head[:length]),
                                 (fs, length))


class PropertyTest(testtools.TestCase):

    def test_many_partitions_are_counted_never_cut(self):
        parts = [(2048 + 16 * i, 2048 + 16 * i + 15) for i in range(128)]
        report = pt.inspect(pt.gpt_disk(SIZE, parts))
        text = inspector.property_text(report, {'os_type': 'linux'})
        self.assertLessEqual(len(text), inspector.PROPERTY_MAX)
        self.assertTrue(text.startswith('set: os_type; '), text)
        self.assertIn('128 partitions: ? x128', text)

    def test_a_short_layout_is_listed_in_full(self):
        report = pt.inspect(pt.gpt_disk(SIZE, [(2048, 4095)]))
        text = inspector.property_text(report, {})
        self.assertEqual('set: nothing; os_type=?; auto_disk_config='
                         'Disabled; gpt [1:?]', text)


class TablesTest(testtools.TestCase):

    def test_short_sectors_are_refused_not_misread(self):
        self.assertRaises(ValueError, tables.mbr_entries, b'\0' * 100)
        self.assertIsNone(tables.gpt_header(b'EFI PART', 1, 100))
