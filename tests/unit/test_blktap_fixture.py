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

"""A VHD blktap's libvhd wrote, against the checker, qemu and the simulator.

The fixture (tests/fixtures/blktap) is what a file SR holds after tapdisk
wrote sector runs; see its README for how it was made.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile

import testtools

from lab.xapisim import tapdisk
from tests.fixtures.blktap import make_fixture as fixture
from tests.functional import base
from tests import vhdchain
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader

# Footer fields that differ between two VHDs made at different times.
_IDENTITY = ('timestamp', 'checksum', 'unique_id')


def _identity_bytes():
    """Footer-relative byte offsets of the identity fields."""
    offsets = L.FOOTER.offsets
    names = list(offsets)
    found = set()
    for name in _IDENTITY:
        end = offsets[names[names.index(name) + 1]]
        found.update(range(offsets[name], end))
    return found


class BlktapFixtureTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with gzip.open(fixture.FIXTURE) as f:
            cls.data = f.read()
        with open(fixture.EXPECTED) as f:
            cls.expected = json.load(f)

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-blktap-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, 'sr.vhd')
        with open(self.path, 'wb') as f:
            f.write(self.data)

    def test_fixture_is_what_was_recorded(self):
        self.assertEqual(self.expected['vhd_sha256'],
                         hashlib.sha256(self.data).hexdigest())
        self.assertEqual([list(w) for w in fixture.WRITES],
                         self.expected['writes'])

    def test_checker_accepts_what_libvhd_wrote(self):
        report = reader.validate_vhd(io.BytesIO(self.data), len(self.data))
        self.assertTrue(report.valid, report.problems)
        self.assertEqual((3, 4), (report.blocks_allocated,
                                  report.blocks_total))
        rc, out, err = base.cli('check', self.path)
        self.assertEqual(0, rc, out + err)

    def test_qemu_reads_the_recorded_disk(self):
        raw = os.path.join(self.dir, 'disk.raw')
        subprocess.run(['qemu-img', 'convert', '-f', 'vpc', '-O', 'raw',
                        self.path, raw], check=True)
        with open(raw, 'rb') as f:
            disk = f.read()
        model = vhdchain.expected_disk([vhdchain.Layer(
            fixture.SIZE, fixture.child_blocks())])
        self.assertEqual(hashlib.sha256(model).hexdigest(),
                         self.expected['disk_sha256'])
        self.assertEqual(self.expected['disk_sha256'],
                         hashlib.sha256(disk).hexdigest())

    def test_simulated_tapdisk_writes_the_same_bytes(self):
        path = os.path.join(self.dir, 'sim.vhd')
        vdi = tapdisk.TapdiskVdi(path, fixture.SIZE)
        for block, (bitmap, data) in sorted(fixture.child_blocks().items()):
            for first, count in tapdisk.runs_of(bitmap):
                vdi.write(block * L.BLOCK_SIZE + first * L.SECTOR_SIZE,
                          data[first * L.SECTOR_SIZE:
                               (first + count) * L.SECTOR_SIZE])
        vdi.close()
        with open(path, 'rb') as f:
            ours = f.read()
        self.assertEqual(len(self.data), len(ours))
        # Every footer copy (the stale ones in the gaps too) differs only
        # in its identity; everything else is byte for byte libvhd's.
        masked = _identity_bytes()
        differ = [i for i in range(len(ours)) if ours[i] != self.data[i]]
        footers = {i - (i % L.SECTOR_SIZE) for i in differ}
        for start in footers:
            self.assertEqual(b'conectix', self.data[start:start + 8])
        self.assertEqual([], [i for i in differ
                              if i % L.SECTOR_SIZE not in masked])
