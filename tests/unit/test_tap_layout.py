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

"""Every field of the tap VHD reference, read back from written VHDs.

The oracle here is the reference's byte offsets, decoded with plain
``struct`` calls, deliberately not the project's own layout module.
"""

import os
import struct
import time
import uuid

import fixtures
import testtools

from lab import images
from xenimage_import import helpers
from xenimage_import.helpers.local import driver as local
from xenimage_import.source import inspect

MiB = images.MiB
GiB = images.GiB
BLOCK = 2 * MiB
VHD_EPOCH = 946684800


def u32(buf, off):
    return struct.unpack_from('>I', buf, off)[0]


def u64(buf, off):
    return struct.unpack_from('>Q', buf, off)[0]


def ones_complement_sum(buf, checksum_offset=None):
    total = sum(buf)
    if checksum_offset is not None:
        total -= sum(buf[checksum_offset:checksum_offset + 4])
    return ~total & 0xFFFFFFFF


def spec_chs(size):
    secs = min(max(1, -(-size // 512)), 65535 * 16 * 255)
    if secs >= 65535 * 16 * 63:
        return (secs // 255 // 16) << 16 | 16 << 8 | 255
    spt = 17
    cth = secs // spt
    heads = max(4, -(-cth // 1024))
    if cth >= heads * 1024 or heads > 16:
        spt, heads, cth = 31, 16, secs // 31
    if cth >= 16 * 1024:
        spt, heads, cth = 63, 16, secs // 63
    return (cth // heads) << 16 | heads << 8 | spt


class TestSpecGeometry(testtools.TestCase):

    def test_examples_from_the_spec(self):
        self.assertEqual(0x03EB0C11, spec_chs(100 * MiB))
        self.assertEqual(0x0820103F, spec_chs(1 * GiB))


class TapVhdLayoutTest(testtools.TestCase):
    """Write sparse raw files through the local helper, then read bytes."""

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def convert(self, size, data_offsets):
        src = os.path.join(self.dir, 'src.raw')
        images.make_sparse(src, size, [(o, 4096) for o in data_offsets])
        dst = os.path.join(self.dir, 'out.vhd')
        source = inspect.inspect_source(src, 'raw')
        before = int(time.time())
        result = local.LocalHelper().convert(helpers.ConversionRequest(
            source=source, destination=dst, output=helpers.OUTPUT_VHD))
        return dst, result, before

    def assert_tap_layout(self, size, data_offsets):
        path, result, before = self.convert(size, data_offsets)
        with open(path, 'rb') as f:
            vhd = f.read()
        rounded = -(-size // BLOCK) * BLOCK
        entries = rounded // BLOCK
        self.assertEqual(rounded, result.virtual_size)

        # Footer at end - 512, and its byte-identical copy at offset 0.
        footer = vhd[-512:]
        self.assertEqual(footer, vhd[:512])
        self.assertEqual(b'conectix', footer[0:8])
        self.assertEqual(0x00000002, u32(footer, 8))
        self.assertEqual(0x00010000, u32(footer, 12))
        self.assertEqual(512, u64(footer, 16))
        stamp = u32(footer, 24) + VHD_EPOCH
        self.assertTrue(before - 1 <= stamp <= time.time() + 1)
        self.assertEqual(b'tap\x00', footer[28:32])
        self.assertEqual(0x00010003, u32(footer, 32))
        self.assertEqual(0, u32(footer, 36))
        self.assertEqual(rounded, u64(footer, 40))
        self.assertEqual(rounded, u64(footer, 48))
        self.assertEqual(spec_chs(rounded), u32(footer, 56))
        self.assertEqual(3, u32(footer, 60))
        self.assertEqual(ones_complement_sum(footer, 64), u32(footer, 64))
        unique = uuid.UUID(bytes=footer[68:84])
        self.assertEqual(4, unique.version)
        self.assertEqual(0, footer[84])
        self.assertEqual(0, footer[85])
        self.assertEqual(bytes(426), footer[86:512])

        # Dynamic header at 512.
        hdr = vhd[512:1536]
        self.assertEqual(b'cxsparse', hdr[0:8])
        self.assertEqual(0xFFFFFFFFFFFFFFFF, u64(hdr, 8))
        self.assertEqual(1536, u64(hdr, 16))
        self.assertEqual(0x00010000, u32(hdr, 24))
        self.assertEqual(entries, u32(hdr, 28))
        self.assertEqual(0x00200000, u32(hdr, 32))
        self.assertEqual(ones_complement_sum(hdr, 36), u32(hdr, 36))
        self.assertEqual(bytes(1024 - 40), hdr[40:])

        # BAT, then zero padding to a sector.
        bat = struct.unpack_from('>%dI' % entries, vhd, 1536)
        bat_end = 1536 + 4 * entries
        batmap_hdr_off = -(-bat_end // 512) * 512
        self.assertEqual(bytes(batmap_hdr_off - bat_end),
                         vhd[bat_end:batmap_hdr_off])

        # Batmap header and map.
        bh = vhd[batmap_hdr_off:batmap_hdr_off + 512]
        map_sectors = max(1, -(-(-(-entries // 8)) // 512))
        self.assertEqual(b'tdbatmap', bh[0:8])
        self.assertEqual(batmap_hdr_off + 512, u64(bh, 8))
        self.assertEqual(map_sectors, u32(bh, 16))
        self.assertEqual(0x00010002, u32(bh, 20))
        bitmap_bytes = vhd[batmap_hdr_off + 512:
                           batmap_hdr_off + 512 + map_sectors * 512]
        self.assertEqual(ones_complement_sum(bitmap_bytes), u32(bh, 24))
        self.assertEqual(bytes(512 - 28), bh[28:])
        meta_end_sector = (batmap_hdr_off + 512) // 512 + map_sectors

        # Blocks: exactly the ones holding data, in order, 4 KiB aligned.
        expected_blocks = sorted({o // BLOCK for o in data_offsets})
        used = [(i, e) for i, e in enumerate(bat) if e != 0xFFFFFFFF]
        self.assertEqual(expected_blocks, [i for i, _ in used])
        self.assertEqual(len(expected_blocks), result.blocks_stored)
        for index in range(entries):
            bit = bitmap_bytes[index // 8] >> (7 - index % 8) & 1
            self.assertEqual(int(index in expected_blocks), bit)
        previous_end = meta_end_sector
        for index, sector in used:
            self.assertEqual(0, (sector + 1) % 8)
            self.assertGreaterEqual(sector, previous_end)
            self.assertLess(sector - previous_end, 8)
            self.assertEqual(bytes((sector - previous_end) * 512),
                             vhd[previous_end * 512:sector * 512])
            self.assertEqual(b'\xff' * 512,
                             vhd[sector * 512:(sector + 1) * 512])
            previous_end = sector + 1 + 4096
        if not used:
            # No data: the footer follows the metadata, which always
            # reaches the first 4 KiB aligned data position.
            previous_end = -(-(meta_end_sector + 1) // 8) * 8 - 1
            self.assertEqual(bytes((previous_end - meta_end_sector) * 512),
                             vhd[meta_end_sector * 512:previous_end * 512])
        self.assertEqual(previous_end * 512 + 512, len(vhd))
        for offset in data_offsets:
            index = offset // BLOCK
            sector = bat[index]
            at = (sector + 1) * 512 + offset % BLOCK
            with open(os.path.join(self.dir, 'src.raw'), 'rb') as f:
                f.seek(offset)
                self.assertEqual(f.read(4096), vhd[at:at + 4096])

    def test_one_mib(self):
        self.assert_tap_layout(1 * MiB, [0])

    def test_size_not_whole_blocks(self):
        self.assert_tap_layout(5 * MiB + 512, [0, 5 * MiB - 4096])

    def test_empty_disk_has_no_blocks(self):
        self.assert_tap_layout(100 * MiB, [])

    def test_hundred_mib_scattered(self):
        self.assert_tap_layout(100 * MiB, [0, 3 * BLOCK + 8192, 49 * BLOCK])

    def test_one_gib(self):
        self.assert_tap_layout(1 * GiB, [BLOCK, 300 * MiB, GiB - 4096])

    def test_block_count_just_above_32768(self):
        # 64 GiB + 2 MiB: 32769 blocks, a 9-sector batmap.
        self.assert_tap_layout(64 * GiB + BLOCK, [0, 64 * GiB])

    def test_beyond_64_gib_not_whole_blocks(self):
        self.assert_tap_layout(100 * GiB + 4096,
                               [17 * GiB, 100 * GiB])
