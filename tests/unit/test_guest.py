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

"""Partition tables that lie: the inspector stays bounded and says so.

(Real disks from sfdisk and mkfs are in tests/functional/
test_guest_inspection.py.)
"""

import testtools

from xenimage_import import guest

BLOCK = 2 * 1024 * 1024
SIZE = 64 * 1024 * 1024


def _mbr(entries):
    sector = bytearray(512)
    for i, (status, kind, first, count) in enumerate(entries):
        sector[446 + 16 * i:462 + 16 * i] = guest.MBR_ENTRY.pack(
            guest.MBR_ENTRY.make(status=status, type=kind, first_lba=first,
                                 sectors=count))
    sector[510:512] = b'\x55\xaa'
    return sector


def _gpt(entries_lba, count, first_lba=2048, last_lba=4095):
    """(GPT header, one used entry) as raw bytes."""
    header = guest.GPT_HEADER.pack(guest.GPT_HEADER.make(
        signature=guest.GPT_SIGNATURE, entries_lba=entries_lba,
        entry_count=count, entry_size=128))
    entry = guest.GPT_ENTRY.pack(guest.GPT_ENTRY.make(
        type_guid=b'\x01' * 16, first_lba=first_lba, last_lba=last_lba))
    return header, entry


def _inspect(blocks, size=SIZE):
    inspector = guest.GuestInspector(size, BLOCK)
    for index in sorted(blocks):
        data = bytearray(BLOCK)
        for offset, raw in blocks[index]:
            data[offset:offset + len(raw)] = raw
        inspector.feed(index, bytes(data))
    return inspector.report()


class GuestInspectorTest(testtools.TestCase):

    def test_ebr_chain_pointing_backwards_stops(self):
        # The extended partition's EBR links to itself: followed once.
        ebr = _mbr([(0, 0x83, 2048, 2048), (0, 0x05, 0, 8192)])
        report = _inspect({0: [(0, _mbr([(0, 0x05, 4096, 65536)])),
                               (4096 * 512, ebr)]})
        self.assertEqual([5], [p['number'] for p in report['partitions']])

    def test_huge_gpt_entry_count_is_capped(self):
        header, entry = _gpt(2, 0xFFFFFFFF)
        report = _inspect({0: [(512, header),
                               (1024, entry * guest.MAX_PARTITIONS)]})
        self.assertEqual(guest.MAX_PARTITIONS, len(report['partitions']))

    def test_table_pointing_behind_the_stream_is_incomplete(self):
        # Entries in block 1 name a partition in block 0, already written:
        # its filesystem is not guessed, and the report says so.
        header, entry = _gpt(4096, 1)
        report = _inspect({0: [(512, header)], 1: [(0, entry)]})
        self.assertEqual([(1, None)], [(p['number'], p['filesystem'])
                                       for p in report['partitions']])
        self.assertFalse(report['complete'])
        self.assertEqual((None, None), (report['os_type'],
                                        report['auto_disk_config']))

    def test_boot_sector_without_table_is_a_whole_disk(self):
        sector = bytearray(512)
        sector[3:11] = b'NTFS    '
        sector[446:510] = b'\x33' * 64     # boot code, not entries
        sector[510:512] = b'\x55\xaa'
        report = _inspect({0: [(0, sector)]})
        self.assertEqual((None, 'ntfs', 'windows', 'Disabled'), (
            report['partition_table'], report['whole_disk_filesystem'],
            report['os_type'], report['auto_disk_config']))

    def test_partitions_in_unallocated_blocks_read_as_zeros(self):
        report = _inspect({0: [(0, _mbr([(0x80, 0x83, 20 * 4096, 4096)]))]})
        self.assertEqual([(1, None, True)], [
            (p['number'], p['filesystem'], p['bootable'])
            for p in report['partitions']])
        self.assertTrue(report['complete'])
