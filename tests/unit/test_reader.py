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

"""The validator refuses a tap VHD corrupted in each checked field.

Each test damages one field of a valid VHD (fixing up checksums where the
damage is not the checksum itself) and expects exactly that check to fail.
"""

import io
import struct
import time

import testtools

from lab import images
from xenimage_import import exception
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader
from xenimage_import.vhd import writer

SIZE = 10 * 1024 * 1024
BLOCKS = [0, 3]


def block_data(index):
    return bytes([(index + 1) % 256]) * L.BLOCK_SIZE


def make_vhd(size=SIZE, blocks=BLOCKS):
    plan = writer.TapVhdPlan(size, blocks)
    return bytearray(images.tap_vhd_bytes(plan, block_data))


def validate(buf):
    return reader.validate_vhd(io.BytesIO(bytes(buf)), len(buf))


def checks(report):
    return sorted({p.check for p in report.problems})


FOOTER_CK = L.FOOTER.offsets['checksum']
HEADER_CK = L.DYNAMIC_HEADER.offsets['checksum']


def set_footer(buf, field, fmt, value, both=True, fix=True):
    """Change a footer field at the end (and the copy), fix checksums."""
    for base in ([0, len(buf) - 512] if both else [len(buf) - 512]):
        struct.pack_into('>' + fmt, buf, base + L.FOOTER.offsets[field],
                         value)
        if fix:
            struct.pack_into('>I', buf, base + FOOTER_CK, 0)
            struct.pack_into('>I', buf, base + FOOTER_CK,
                             L.checksum(buf[base:base + 512]))


def set_header(buf, field, fmt, value, fix=True):
    base = L.DYNAMIC_HEADER_OFFSET
    struct.pack_into('>' + fmt, buf, base + L.DYNAMIC_HEADER.offsets[field],
                     value)
    if fix:
        struct.pack_into('>I', buf, base + HEADER_CK, 0)
        struct.pack_into('>I', buf, base + HEADER_CK,
                         L.checksum(buf[base:base + 1024]))


class ValidTapVhdTest(testtools.TestCase):

    def test_written_vhd_is_valid(self):
        report = validate(make_vhd())
        self.assertEqual([], report.problems)
        self.assertEqual('tap', report.creator)
        self.assertEqual(2, report.blocks_allocated)
        self.assertEqual(5, report.blocks_total)

    def test_empty_disk_is_valid(self):
        self.assertEqual([], validate(make_vhd(blocks=[])).problems)

    def test_large_batmap_is_valid(self):
        plan = writer.TapVhdPlan(64 * 1024 ** 3 + L.BLOCK_SIZE, [32768])
        buf = images.tap_vhd_bytes(plan, block_data)
        self.assertEqual([], validate(buf).problems)

    def test_truncated_stream_raises(self):
        buf = make_vhd()
        self.assertRaises(exception.TruncatedVhd, reader.validate_vhd,
                          io.BytesIO(bytes(buf[:-1024])), len(buf))


class CorruptedFieldTest(testtools.TestCase):

    def assertOnly(self, check, buf):
        self.assertEqual([check], checks(validate(buf)))

    def test_footer_cookie(self):
        buf = make_vhd()
        buf[-512:-504] = b'conectiX'
        self.assertIn('footer.cookie', checks(validate(buf)))

    def test_footer_checksum(self):
        buf = make_vhd()
        set_footer(buf, 'checksum', 'I', 1234, fix=False)
        self.assertOnly('footer.checksum', buf)

    def test_footer_features(self):
        buf = make_vhd()
        set_footer(buf, 'features', 'I', 0)
        self.assertOnly('footer.features', buf)

    def test_footer_version(self):
        buf = make_vhd()
        set_footer(buf, 'file_format_version', 'I', 0x00020000)
        self.assertOnly('footer.version', buf)

    def test_footer_timestamp_in_future(self):
        buf = make_vhd()
        future = int(time.time()) + 3600 - L.VHD_EPOCH
        set_footer(buf, 'timestamp', 'I', future)
        self.assertOnly('footer.timestamp', buf)

    def test_footer_timestamp_within_slack_is_fine(self):
        buf = make_vhd()
        soon = int(time.time()) + 600 - L.VHD_EPOCH
        set_footer(buf, 'timestamp', 'I', soon)
        self.assertEqual([], checks(validate(buf)))

    def test_creator_qemu_refused(self):
        buf = make_vhd()
        set_footer(buf, 'creator_application', '4s', b'qemu')
        report = validate(buf)
        self.assertEqual(['footer.creator'], checks(report))
        self.assertIn('cannot resize', str(report.problems[0]))

    def test_creator_version_above_1_3(self):
        buf = make_vhd()
        set_footer(buf, 'creator_version', 'I', 0x00010004)
        self.assertOnly('footer.creator_version', buf)

    def test_geometry_too_large(self):
        buf = make_vhd()
        set_footer(buf, 'disk_geometry', 'I', 65535 << 16 | 16 << 8 | 255)
        self.assertOnly('footer.geometry', buf)

    def test_disk_type_invalid(self):
        buf = make_vhd()
        set_footer(buf, 'disk_type', 'I', 7)
        self.assertOnly('footer.disk_type', buf)

    def test_saved_state_invalid(self):
        buf = make_vhd()
        set_footer(buf, 'saved_state', 'B', 2)
        self.assertOnly('footer.saved_state', buf)

    def test_hidden_refused(self):
        buf = make_vhd()
        set_footer(buf, 'hidden', 'B', 1)
        self.assertOnly('footer.hidden', buf)

    def test_footer_reserved(self):
        buf = make_vhd()
        set_footer(buf, 'reserved', '4s', b'junk')
        self.assertOnly('footer.reserved', buf)

    def test_unique_id_null(self):
        buf = make_vhd()
        set_footer(buf, 'unique_id', '16s', bytes(16))
        self.assertOnly('footer.unique_id', buf)

    def test_footer_copy_differs(self):
        buf = make_vhd()
        set_footer(buf, 'unique_id', '16s', b'x' * 16, both=False)
        self.assertOnly('footer.copy', buf)

    def test_header_cookie(self):
        buf = make_vhd()
        set_header(buf, 'cookie', '8s', b'cxsparsE')
        self.assertOnly('header.cookie', buf)

    def test_header_checksum(self):
        buf = make_vhd()
        set_header(buf, 'checksum', 'I', 99, fix=False)
        self.assertOnly('header.checksum', buf)

    def test_header_version(self):
        buf = make_vhd()
        set_header(buf, 'header_version', 'I', 0x00020000)
        self.assertOnly('header.version', buf)

    def test_header_data_offset(self):
        buf = make_vhd()
        set_header(buf, 'data_offset', 'Q', 0)
        self.assertOnly('header.data_offset', buf)

    def test_header_table_offset_unaligned(self):
        buf = make_vhd()
        set_header(buf, 'table_offset', 'Q', 1537)
        self.assertIn('header.table_offset', checks(validate(buf)))

    def test_header_bat_past_end(self):
        buf = make_vhd()
        set_header(buf, 'table_offset', 'Q', len(buf) - 512)
        self.assertIn('header.table_offset', checks(validate(buf)))

    def test_header_block_size_not_power_of_two(self):
        buf = make_vhd()
        set_header(buf, 'block_size', 'I', 3 * 1024 * 1024)
        self.assertIn('header.block_size', checks(validate(buf)))

    def test_header_reserved(self):
        buf = make_vhd()
        set_header(buf, 'reserved2', '4s', b'junk')
        self.assertOnly('header.reserved', buf)

    def test_header_parent_on_dynamic_disk(self):
        buf = make_vhd()
        set_header(buf, 'parent_unique_id', '16s', b'p' * 16)
        self.assertOnly('header.parent', buf)

    def test_bat_fewer_entries_than_blocks(self):
        buf = make_vhd()
        set_header(buf, 'max_table_entries', 'I', 2)
        self.assertIn('bat.max_entries', checks(validate(buf)))

    def test_bat_entry_inside_metadata(self):
        buf = make_vhd()
        struct.pack_into('>I', buf, L.BAT_OFFSET + 4, 2)
        self.assertIn('bat.entry', checks(validate(buf)))

    def test_bat_entry_past_end(self):
        buf = make_vhd()
        struct.pack_into('>I', buf, L.BAT_OFFSET + 4, len(buf) // 512)
        self.assertIn('bat.entry', checks(validate(buf)))

    def test_bat_blocks_overlap(self):
        buf = make_vhd()
        first = struct.unpack_from('>I', buf, L.BAT_OFFSET)[0]
        struct.pack_into('>I', buf, L.BAT_OFFSET + 3 * 4, first + 8)
        self.assertIn('bat.overlap', checks(validate(buf)))

    def _batmap_header_offset(self):
        return writer.TapVhdPlan(SIZE, BLOCKS).batmap_header_offset

    def test_batmap_cookie(self):
        buf = make_vhd()
        off = self._batmap_header_offset()
        buf[off:off + 8] = b'tdbatmaP'
        self.assertOnly('batmap.cookie', buf)

    def test_batmap_version(self):
        buf = make_vhd()
        off = self._batmap_header_offset()
        struct.pack_into('>I', buf, off + 20, 0x00010003)
        self.assertOnly('batmap.version', buf)

    def test_batmap_checksum(self):
        buf = make_vhd()
        off = self._batmap_header_offset()
        struct.pack_into('>I', buf, off + 24, 0)
        self.assertOnly('batmap.checksum', buf)

    def test_batmap_size_too_small(self):
        plan = writer.TapVhdPlan(64 * 1024 ** 3 + L.BLOCK_SIZE, [0])
        buf = bytearray(images.tap_vhd_bytes(plan, block_data))
        struct.pack_into('>I', buf, plan.batmap_header_offset + 16, 8)
        self.assertOnly('batmap.size', buf)

    def test_batmap_larger_than_any_vhd_needs(self):
        # vhd-util would read all of it into dom0's memory.
        buf = make_vhd()
        off = self._batmap_header_offset()
        struct.pack_into('>I', buf, off + 16, L.MAX_BATMAP_SECTORS + 1)
        self.assertOnly('batmap.size', buf)

    def test_each_bat_fault_is_reported_once_with_a_count(self):
        buf = make_vhd()
        first = struct.unpack_from('>I', buf, L.BAT_OFFSET)[0]
        entries = SIZE // L.BLOCK_SIZE
        struct.pack_into('>%dI' % entries, buf, L.BAT_OFFSET,
                         *[first] * entries)
        report = validate(buf)
        overlaps = [p for p in report.problems if p.check == 'bat.overlap']
        self.assertEqual(1, len(overlaps))
        self.assertIn('(and %d more)' % (entries - 2), overlaps[0].message)

    def test_batmap_offset_outside_file(self):
        buf = make_vhd()
        off = self._batmap_header_offset()
        struct.pack_into('>Q', buf, off + 8, len(buf))
        self.assertOnly('batmap.offset', buf)

    def test_batmap_bit_without_block(self):
        buf = make_vhd()
        plan = writer.TapVhdPlan(SIZE, BLOCKS)
        buf[plan.batmap_offset] |= 0x80 >> 1     # block 1 is not stored
        bits = buf[plan.batmap_offset:plan.batmap_offset + 512]
        struct.pack_into('>I', buf, plan.batmap_header_offset + 24,
                         L.checksum(bits))
        self.assertOnly('batmap.bits', buf)

    def test_file_size_not_sector_multiple(self):
        buf = make_vhd() + b'\0' * 100
        self.assertIn('file.size', checks(validate(buf)))

    def test_not_a_vhd(self):
        buf = bytearray(4096)
        report = validate(buf)
        self.assertIn('footer.cookie', checks(report))
