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

"""Our map of a VHDX (qemu-img cannot map one), held to what qemu wrote."""

import os

import fixtures
import testtools

from lab import images
from xenimage_import import exception
from xenimage_import.source.formats import vhdx

MiB = images.MiB


class VhdxExtentsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def vhdx(self, size, regions):
        raw = images.make_sparse(os.path.join(self.dir, 'd.raw'), size,
                                 regions)
        return raw, images.qemu_convert(raw, os.path.join(self.dir, 'd.vhdx'),
                                        'vhdx')

    def test_each_present_block_maps_to_the_bytes_qemu_stored(self):
        raw, path = self.vhdx(64 * MiB, [(0, MiB), (40 * MiB, MiB)])
        found = list(vhdx.extents(path))
        # qemu-img writes 8 MiB blocks for a disk this size: the two
        # touched, no other.
        self.assertEqual([(0, 8 * MiB), (40 * MiB, 8 * MiB)],
                         [(start, length) for start, length, _ in found])
        size = os.path.getsize(path)
        with open(raw, 'rb') as disk, open(path, 'rb') as image:
            for start, length, offset in found:
                self.assertLessEqual(offset + length, size)
                disk.seek(start)
                image.seek(offset)
                self.assertEqual(disk.read(MiB), image.read(MiB))

    def test_an_empty_disk_has_no_extents(self):
        _raw, path = self.vhdx(64 * MiB, [])
        self.assertEqual([], list(vhdx.extents(path)))

    def test_a_damaged_region_table_is_refused(self):
        _raw, path = self.vhdx(8 * MiB, [(0, MiB)])
        with open(path, 'r+b') as f:
            # Both region tables (192 KiB and 256 KiB in): signature gone.
            for at in (192 * 1024, 256 * 1024):
                f.seek(at)
                f.write(b'\0' * 8)
        self.assertRaises(exception.XenImageError, list, vhdx.extents(path))
