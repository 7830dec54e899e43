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

"""The catalogue audit's verdicts and the repair's copy record.

Heads are cut from files real tools made (tar, qemu-img, the project's
writer), as Glance serves them for a ranged read.
"""

import os
import subprocess

import fixtures
import testtools

from lab import images
from tests import vhdchain
from xenimage_import.catalogue import repair
from xenimage_import.catalogue import verdict as V
from xenimage_import import publish

MiB = images.MiB


def image(**fields):
    record = {'id': 'orig', 'status': 'active', 'size': MiB,
              'disk_format': 'vhd', 'container_format': 'ovf',
              'vm_mode': 'hvm'}
    record.update(fields)
    return record


class RecordTest(testtools.TestCase):

    def test_no_data_is_not_judged(self):
        for fields in ({'status': 'queued'}, {'status': 'saving'},
                       {'status': 'importing'}, {'status': 'killed'},
                       {'status': 'uploading'}, {'size': None}):
            found = V.from_record(image(**fields))
            self.assertEqual(V.UNJUDGED, found.verdict, fields)

    def test_what_holds_no_disk_is_not_convertible(self):
        for fields, reason in (
                ({'disk_format': 'iso'}, 'installation media'),
                ({'disk_format': 'aki'}, 'kernel'),
                ({'disk_format': 'ploop'}, 'not one the plugin converts'),
                ({'container_format': 'docker', 'disk_format': 'raw'},
                 'container_format docker'),
                ({'size': 0}, 'no data')):
            found = V.from_record(image(**fields))
            self.assertEqual(V.NOT_CONVERTIBLE, found.verdict, fields)
            self.assertIn(reason, found.reasons[0])

    def test_convertible_formats_need_their_data(self):
        for disk, container in (('vhd', 'ovf'), ('qcow2', 'bare'),
                                ('vhd', 'bare'), ('raw', 'bare')):
            self.assertIsNone(V.from_record(image(
                disk_format=disk, container_format=container)))

    def test_vm_mode_as_nova_reads_it(self):
        cases = [({'vm_mode': None}, 'vm_mode is not set'),
                 ({'vm_mode': 'bogus'}, "'bogus' is not one Nova knows"),
                 ({'vm_mode': 'xen', 'os_type': 'windows'},
                  'Windows boots only as hvm'),
                 ({'vm_mode': None, 'os_type': 'windows'}, None),
                 ({'vm_mode': 'PV'}, None), ({'vm_mode': 'hv'}, None),
                 ({'vm_mode': 'hvm', 'os_type': 'windows'}, None)]
        for fields, reason in cases:
            problems = V.vm_mode_problems(image(**fields))
            if reason is None:
                self.assertEqual([], problems, fields)
            else:
                self.assertIn(reason, problems[0], fields)


class HeadTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.raw = images.make_sparse(os.path.join(self.dir, 'disk.raw'),
                                      4 * MiB, [(MiB, MiB)])

    def tarball(self, vhd):
        return self.archived(vhd, 'tar', '-czf')

    def head(self, path, size=V.HEAD_SIZES[0]):
        with open(path, 'rb') as f:
            return f.read(size)

    def tap(self):
        return images.tap_vhd(self.raw, os.path.join(self.dir, 'tap.vhd'))

    def test_tap_tarball_with_vm_mode_boots(self):
        found = V.from_head(image(), self.tarball(self.tap()))
        self.assertEqual(V.BOOTS, found.verdict, found)

    def test_tap_tarball_without_vm_mode_is_fixable(self):
        found = V.from_head(image(vm_mode=None), self.tarball(self.tap()))
        self.assertEqual((V.FIXABLE, 'vm_mode is not set'),
                         (found.verdict, found.reasons[0][:18]))

    def test_qemu_vhd_in_a_tarball_is_fixable(self):
        vhd = images.qemu_convert(self.raw, os.path.join(self.dir, 'q.vhd'),
                                  'vpc')
        found = V.from_head(image(), self.tarball(vhd))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertIn("written by 'qemu', not tap", found.reasons[0])

    def test_a_fixed_vhd_in_a_tarball_is_fixable(self):
        vhd = os.path.join(self.dir, 'fixed.vhd')
        subprocess.run(['qemu-img', 'convert', '-q', '-O', 'vpc', '-o',
                        'subformat=fixed', self.raw, vhd], check=True)
        found = V.from_head(image(), self.tarball(vhd))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertIn('no footer copy at its start', found.reasons[0])

    def test_another_format_named_0_vhd_is_not_convertible(self):
        qcow2 = images.qemu_convert(self.raw, os.path.join(
            self.dir, 'q.qcow2'), 'qcow2')
        found = V.from_head(image(), self.tarball(qcow2))
        self.assertEqual(V.NOT_CONVERTIBLE, found.verdict)
        self.assertIn('0.vhd holds a qcow2 image', found.reasons[0])

    def test_a_snapshot_tarball_is_fixable(self):
        chain = vhdchain.sample_chain(2, size=4 * MiB)
        found = V.from_head(image(), self.head(vhdchain.write_tarball(
            self.dir, chain)))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertIn('the plugin flattens it', found.reasons[0])

    def test_a_head_cut_before_the_footer_asks_for_more(self):
        head = self.tarball(self.tap())
        self.assertRaises(V.NeedMore, V.from_head, image(), head[:60])

    def archived(self, vhd, *tar):
        """The head of ``vhd`` as ``tar ... ARCHIVE 0.vhd`` packs it."""
        os.rename(vhd, os.path.join(self.dir, '0.vhd'))
        out = os.path.join(self.dir, 'upload')
        subprocess.run(list(tar) + [out, '-C', self.dir, '0.vhd'],
                       check=True)
        return self.head(out)

    def test_a_bare_tarball_is_fixable(self):
        # tar -cf: Nova's tar -zx cannot read it, the plugin re-packs it.
        found = V.from_head(image(), self.archived(self.tap(), 'tar', '-cf'))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertIn('not gzipped', found.reasons[0])

    def test_a_sparse_member_is_fixable(self):
        vhd = images.qemu_convert(self.raw, os.path.join(self.dir, 'q.vhd'),
                                  'vpc')
        found = V.from_head(image(), self.archived(vhd, 'bsdtar', '-czf'))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertIn('GNU sparse member', found.reasons[0])

    def test_a_tarball_label_on_other_data_is_not_convertible(self):
        found = V.from_head(image(), self.head(self.raw))
        self.assertEqual(V.NOT_CONVERTIBLE, found.verdict)
        self.assertIn('no gzipped tarball', found.reasons[0])

    def test_qcow2_is_fixable_and_mislabelled_qcow2_is_not(self):
        qcow2 = self.head(images.qemu_convert(
            self.raw, os.path.join(self.dir, 'd.qcow2'), 'qcow2'))
        bare = dict(container_format='bare')
        found = V.from_head(image(disk_format='qcow2', **bare), qcow2)
        self.assertEqual(V.FIXABLE, found.verdict)
        found = V.from_head(image(disk_format='raw', **bare), qcow2)
        self.assertEqual(V.NOT_CONVERTIBLE, found.verdict)
        self.assertIn('labelled raw, but the data is qcow2', found.reasons[0])

    def test_qcow2_naming_a_backing_file_is_not_convertible(self):
        path = os.path.join(self.dir, 'b.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                        'raw', '-b', self.raw, path], check=True)
        found = V.from_head(image(disk_format='qcow2',
                                  container_format='bare'), self.head(path))
        self.assertEqual(V.NOT_CONVERTIBLE, found.verdict)
        self.assertIn('backing file', found.reasons[0])

    def test_a_bare_tap_vhd_is_fixable_by_packing(self):
        found = V.from_head(image(container_format='bare'),
                            self.head(self.tap()))
        self.assertEqual(V.FIXABLE, found.verdict)
        self.assertEqual(1, len(found.reasons), found)
        self.assertIn('a bare VHD', found.reasons[0])


class CopyRecordTest(testtools.TestCase):

    ORIGINAL = image(
        id='orig', name='web', visibility='shared', tags=['golden'],
        min_ram=256, min_disk=0, owner='p1', protected=True, os_hidden=False,
        os_distro='ubuntu', checksum='c', os_hash_algo='sha512',
        os_hash_value='h', virtual_size=1, direct_url='file:///srv/x',
        stores='file1', os_glance_importing_to_stores='',
        **{'owner_specified.openstack.sha256': 'x',
           publish.SOURCE_FORMAT_PROPERTY: 'qcow2'})

    def test_the_record_is_carried_and_what_glance_computes_is_not(self):
        fields = repair.copy_fields(self.ORIGINAL)
        self.assertEqual({
            'name': 'web', 'visibility': 'shared', 'tags': ['golden'],
            'min_ram': 256, 'min_disk': 0, 'owner': 'p1', 'os_hidden': False,
            'os_distro': 'ubuntu', 'vm_mode': 'hvm', 'disk_format': 'vhd',
            'container_format': 'ovf',
            publish.REPAIRED_FROM_PROPERTY: 'orig'}, fields)

    def test_a_vm_mode_nova_would_misread_is_left_to_the_plugin(self):
        for vm_mode in ('bogus', 'xen'):
            fields = repair.copy_fields(dict(
                self.ORIGINAL, vm_mode=vm_mode, os_type='windows'))
            self.assertNotIn('vm_mode', fields)

    def test_bare_data_is_imported_as_bare(self):
        fields = repair.copy_fields(dict(
            self.ORIGINAL, disk_format='qcow2', container_format='ovf'))
        self.assertEqual(('qcow2', 'bare'),
                         (fields['disk_format'], fields['container_format']))
