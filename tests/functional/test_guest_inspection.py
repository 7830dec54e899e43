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

"""Guest inspection on disks made by sfdisk and the real mkfs tools.

The layout ``xenimage-convert --json`` reports must be the one sfdisk
wrote, each filesystem the one its mkfs made, and os_type and
auto_disk_config follow from them as Nova's XenAPI driver needs.
"""

import json
import os
import shutil
import tempfile

import testtools

from lab import images
from tests.functional import base
from tests import guestdisks

# (name, label, primaries, logicals, os_type, auto_disk_config)
CASES = [
    ('mbr-single-ext4', 'dos', [('ext4', 40)], (), 'linux', 'True'),
    ('gpt-single-ext4', 'gpt', [('ext4', 40)], (), 'linux', 'True'),
    ('mbr-single-ext3', 'dos', [('ext3', 40)], (), 'linux', 'True'),
    ('mbr-single-ext2', 'dos', [('ext2', 40)], (), 'linux', 'True'),
    ('mbr-ext4-and-swap', 'dos', [('ext4', 30), ('swap', 10)], (),
     'linux', 'Disabled'),
    ('mbr-logical-partitions', 'dos', [('ext4', 20)],
     [('ext4', 20), ('swap', 10)], 'linux', 'Disabled'),
    ('mbr-ntfs', 'dos', [('ntfs', 40)], (), 'windows', 'Disabled'),
    ('gpt-esp-and-ntfs', 'gpt', [('vfat', 40), ('ntfs', 40)], (),
     'windows', 'Disabled'),
    ('gpt-xfs', 'gpt', [('xfs', 300)], (), 'linux', 'Disabled'),
    ('mbr-btrfs', 'dos', [('btrfs', 120)], (), 'linux', 'Disabled'),
    ('mbr-lvm-pv', 'dos', [('lvm2_pv', 20)], (), 'linux', 'Disabled'),
    ('gpt-luks', 'gpt', [('luks', 20)], (), None, 'Disabled'),
    ('gpt-vfat-only', 'gpt', [('vfat', 40)], (), None, 'Disabled'),
    ('mbr-empty-partition', 'dos', [(None, 8)], (), None, 'Disabled'),
]


class GuestInspectionTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-guest-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def convert(self, source, dest='out.vhd'):
        rc, stdout, stderr = base.cli('convert', '--json', source,
                                      os.path.join(self.dir, dest))
        self.assertEqual(0, rc, stdout + stderr)
        return json.loads(stdout)['guest']

    def assert_case(self, label, parts, logicals, os_type, auto):
        if 'lvm2_pv' in [fs for fs, _ in parts] and \
                not guestdisks.loop_devices_work():
            self.skipTest('pvcreate needs a loop device, none here')
        raw = os.path.join(self.dir, 'disk.raw')
        layout = guestdisks.disk(raw, label, parts, logicals)
        # Through qemu-img's decoder too: the same pass, another source.
        source = images.qemu_convert(raw, os.path.join(self.dir, 'd.qcow2'),
                                     'qcow2')
        found = self.convert(source)
        self.assertEqual(label, found['partition_table'])
        self.assertEqual(
            [(n, start, size, fs) for n, start, size, fs in layout],
            [(p['number'], p['start'], p['size'], p['filesystem'])
             for p in found['partitions'] if not p['container']])
        self.assertEqual((os_type, auto), (found['os_type'],
                                           found['auto_disk_config']))
        self.assertTrue(found['complete'])

    def test_whole_disk_filesystem_is_not_resizable(self):
        path = guestdisks.whole_disk(os.path.join(self.dir, 'fs.raw'), 'ext4')
        found = self.convert(path)
        self.assertEqual((None, 'ext4', 'linux', 'Disabled'), (
            found['partition_table'], found['whole_disk_filesystem'],
            found['os_type'], found['auto_disk_config']))

    def test_blank_disk_infers_nothing(self):
        path = images.make_sparse(os.path.join(self.dir, 'blank.raw'),
                                  8 * images.MiB, [(4 * images.MiB, 4096)])
        found = self.convert(path)
        self.assertEqual((None, None, None), (
            found['partition_table'], found['os_type'],
            found['auto_disk_config']))

    def test_summary_names_the_layout(self):
        raw = os.path.join(self.dir, 'disk.raw')
        guestdisks.disk(raw, 'gpt', [('vfat', 40), ('ntfs', 40)])
        rc, stdout, stderr = base.cli('convert', raw,
                                      os.path.join(self.dir, 'o.tgz'))
        self.assertEqual(0, rc, stderr)
        self.assertIn('os_type=windows; auto_disk_config=Disabled; '
                      'gpt [1:vfat, 2:ntfs]', stdout)
        self.assertIn('partition 2', stdout)


for _case in CASES:
    def _test(self, case=_case):
        self.assert_case(*case[1:])
    setattr(GuestInspectionTest, 'test_' + _case[0].replace('-', '_'), _test)
