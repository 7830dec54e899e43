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

"""Interoperable image import through a real Glance 33 and the real CLI.

Each class starts its own glance-api under uWSGI on 127.0.0.1 (see
tests/fixtures/glance_server.py) with xenimage_import enabled, and drives
it with ``glance image-create-via-import``. The assertions are on formats and
data, never on ``active`` alone: a plugin that fails to load leaves the
image active as qcow2/bare.
"""

import gzip
import hashlib
import math
import os
import shutil
import tempfile
import time

from lab import glance_server
from lab import images
from tests.functional import base
from tests import guestdisks
from tests import hostile
from tests import vhdchain


MiB = images.MiB
GiB = images.GiB


class ImportConvertsTest(base.GlanceTestBase):

    http_dir = 'http'

    @classmethod
    def _prepare(cls, server):
        cls.src_dir = os.path.join(cls.base, 'sources')
        os.mkdir(cls.src_dir)
        cls.raw = images.make_ext4(os.path.join(cls.src_dir, 'disk.raw'),
                                   48 * MiB + 512 * 1024, 8 * MiB,
                                   trees=('/usr/share/doc', '/usr/bin'))

    def source(self, fmt):
        if fmt == 'raw':
            return self.raw
        qemu_fmt = {'vhd': 'vpc'}.get(fmt, fmt)
        return images.qemu_convert(self.raw, os.path.join(
            self.dir, 'disk.%s' % fmt), qemu_fmt)

    def assert_converted(self, image_id, fmt, vm_mode='hvm', min_disk=None):
        image = self.wait_settled(image_id)
        self.assertEqual('active', image['status'], self.tasks(image_id))
        self.assertEqual('vhd', image['disk_format'])
        self.assertEqual('ovf', image['container_format'])
        self.assertEqual(vm_mode, image['vm_mode'])
        self.assertEqual(fmt, image['xenimage_source_format'])
        vhd_size = images.MiB * 2 * math.ceil(
            os.path.getsize(self.raw) / (2 * MiB))
        self.assertEqual(str(vhd_size), image['virtual_size'])
        self.assertEqual(str(min_disk or math.ceil(vhd_size / GiB)),
                         image['min_disk'])

        data, vhd = self.downloaded_vhd(image_id)
        with open(data, 'rb') as f:
            blob = f.read()
        self.assertEqual(str(len(blob)), image['size'])
        self.assertEqual(hashlib.md5(blob).hexdigest(), image['checksum'])
        self.assertEqual(hashlib.sha512(blob).hexdigest(),
                         image['os_hash_value'])
        rc, out, err = base.cli('check', data)
        self.assertEqual(0, rc, out + err)
        same, message = images.qemu_compare(vhd, 'vpc', self.raw, 'raw')
        self.assertTrue(same, message)
        self.assertEqual([], [n for n in os.listdir(self.server.staging)
                              if n.startswith(image_id)])
        return image

    def test_qcow2_glance_direct(self):
        image_id, _ = self.import_file(self.source('qcow2'), 'qcow2')
        self.assert_converted(image_id, 'qcow2')

    def test_raw_glance_direct(self):
        image_id, _ = self.import_file(self.source('raw'), 'raw')
        self.assert_converted(image_id, 'raw')

    def test_qemu_vhd_glance_direct(self):
        image_id, _ = self.import_file(self.source('vhd'), 'vhd')
        self.assert_converted(image_id, 'vhd')

    def test_web_download_qcow2(self):
        src = self.source('qcow2')
        shutil.copy(src, os.path.join(self.http.directory, 'web.qcow2'))
        proc = self.glance('image-create-via-import', '--disk-format',
                           'qcow2', '--container-format', 'bare', '--name',
                           'web', '--import-method', 'web-download',
                           '--uri', self.http.url('web.qcow2'))
        image_id = glance_server.image_id_of(proc)
        self.assert_converted(image_id, 'qcow2')

    def test_user_vm_mode_xen_kept(self):
        image_id, _ = self.import_file(self.source('qcow2'), 'qcow2',
                                       '--property', 'vm_mode=pv')
        self.assert_converted(image_id, 'qcow2', vm_mode='xen')

    def test_windows_gets_hvm_and_keeps_os_type(self):
        image_id, _ = self.import_file(self.source('raw'), 'raw',
                                       '--property', 'os_type=windows')
        image = self.assert_converted(image_id, 'raw', vm_mode='hvm')
        self.assertEqual('windows', image['os_type'])

    def test_user_min_disk_kept(self):
        image_id, _ = self.import_file(self.source('raw'), 'raw',
                                       '--min-disk', '7')
        self.assert_converted(image_id, 'raw', min_disk=7)

    def qemu_vhd_archived(self, *tar):
        """qemu-img's VHD of the disk as ``tar ... ARCHIVE 0.vhd`` packs it."""
        work = tempfile.mkdtemp(dir=self.dir)
        images.qemu_convert(self.raw, os.path.join(work, '0.vhd'), 'vpc')
        path = os.path.join(work, 'upload')
        images.run(*tar, path, '-C', work, '0.vhd')
        return path

    def test_qemu_vhd_tarball_is_rewritten_as_tap(self):
        tgz = self.qemu_vhd_archived('tar', '-czf')
        image_id, _ = self.import_file(tgz, 'vhd', container_format='ovf')
        self.assert_converted(image_id, 'vhd')

    def test_bsdtar_sparse_tarball_is_rewritten_as_tap(self):
        # bsdtar (macOS's tar) stores qemu-img's VHD, which has holes, as
        # a GNU sparse member.
        tgz = self.qemu_vhd_archived('bsdtar', '-czf')
        with gzip.open(tgz) as f:
            self.assertIn(b'GNU.sparse.major=1', f.read(4096))
        image_id, _ = self.import_file(tgz, 'vhd', container_format='ovf')
        self.assert_converted(image_id, 'vhd')

    def test_bare_tarball_is_rewritten_gzipped(self):
        # tar -cf: Nova's dom0 plugin reads gzipped tarballs only.
        tar = self.qemu_vhd_archived('tar', '-cf')
        image_id, _ = self.import_file(tar, 'vhd', container_format='ovf')
        self.assert_converted(image_id, 'vhd')

    def test_bare_tap_vhd_is_packed_as_it_is(self):
        vhd = os.path.join(self.dir, 'tap.vhd')
        self.assertEqual(0, base.cli('convert', self.raw, vhd)[0])
        image_id, _ = self.import_file(vhd, 'vhd')
        self.assert_converted(image_id, 'vhd')
        data = self.download(image_id)
        member = images.extract_member(data, self.dir)
        with open(vhd, 'rb') as a, open(member, 'rb') as b:
            self.assertEqual(a.read(), b.read())

    def test_gpt_disk_imports_as_raw(self):
        image_id, _ = self.import_file(hostile.gpt_disk(self.dir), 'raw')
        image = self.wait_settled(image_id)
        self.assertEqual('active', image['status'], self.tasks(image_id))
        self.assertEqual(('vhd', 'ovf', 'raw'), (
            image['disk_format'], image['container_format'],
            image['xenimage_source_format']))

    def test_guest_inspection_sets_os_type_and_auto_disk_config(self):
        cases = [('gpt', [('vfat', 40), ('ntfs', 40)], 'windows', 'Disabled',
                  'hvm'),
                 ('dos', [('ext4', 40)], 'linux', 'True', 'hvm')]
        for label, parts, os_type, auto, vm_mode in cases:
            raw = os.path.join(self.dir, '%s.raw' % label)
            guestdisks.disk(raw, label, parts)
            image_id, _ = self.import_file(images.qemu_convert(
                raw, raw + '.qcow2', 'qcow2'), 'qcow2')
            image = self.wait_settled(image_id)
            self.assertEqual('active', image['status'], self.tasks(image_id))
            self.assertEqual((os_type, auto, vm_mode), (
                image['os_type'], image['auto_disk_config'],
                image['vm_mode']))
            # (the CLI's table wraps long values; spaces are lost there)
            self.assertIn('set:auto_disk_config,os_type',
                          image['xenimage_inspection'].replace(' ', ''))
        # What the user set is kept.
        image_id, _ = self.import_file(raw + '.qcow2', 'qcow2',
                                       '--property', 'auto_disk_config=False')
        image = self.wait_settled(image_id)
        self.assertEqual(('linux', 'False'), (image['os_type'],
                                              image['auto_disk_config']))

    def test_snapshot_chain_is_flattened(self):
        # A snapshot as Nova's XenAPI driver uploads it: a VHD chain.
        layers = vhdchain.sample_chain(3, grain=8, seed=7)
        tgz = vhdchain.write_tarball(self.dir, layers)
        image_id, _ = self.import_file(tgz, 'vhd', container_format='ovf')
        image = self.wait_settled(image_id)
        self.assertEqual('active', image['status'], self.tasks(image_id))
        self.assertEqual(('vhd', 'ovf', 'vhd'), (
            image['disk_format'], image['container_format'],
            image['xenimage_source_format']))
        data, vhd = self.downloaded_vhd(image_id)
        self.assertEqual(0, base.cli('check', data)[0])
        raw = vhd + '.raw'
        images.run('qemu-img', 'convert', '-f', 'vpc', '-O', 'raw', vhd, raw)
        with open(raw, 'rb') as f:
            self.assertEqual(vhdchain.expected_disk(layers), f.read())

    def test_tap_tarball_passes_through_unchanged(self):
        tgz = os.path.join(self.dir, 'ready.tgz')
        self.assertEqual(0, base.cli('convert', self.raw, tgz)[0])
        image_id, _ = self.import_file(tgz, 'vhd', container_format='ovf')
        image = self.wait_settled(image_id)
        self.assertEqual('active', image['status'], self.tasks(image_id))
        self.assertEqual(('vhd', 'ovf'), (image['disk_format'],
                                          image['container_format']))
        with open(tgz, 'rb') as f:
            self.assertEqual(hashlib.md5(f.read()).hexdigest(),
                             image['checksum'])


class SingleStoreImportTest(ImportConvertsTest):
    """The same imports with Glance's single-store configuration.

    Staged data is then a file under ``node_staging_uri``, not data of
    glance_store's ``os_glance_staging_store``; both must end unstaged.
    """

    multi_store = False

    def test_refused_upload_is_unstaged(self):
        path = hostile.build('qcow2-backing-absolute', self.dir)
        image_id, _ = self.import_file(path, 'qcow2')
        image = self.wait_settled(image_id)
        self.assertEqual('queued', image['status'])
        self.assertIn('backing file', self.tasks(image_id))
        self.assertEqual([], self.files_for(image_id))


class ImportRefusesTest(base.GlanceTestBase):

    plugin_conf = {'max_virtual_size': 1}

    def assert_refused(self, path, disk_format, reason):
        image_id, proc = self.import_file(path, disk_format)
        image = self.wait_settled(image_id)
        tasks = self.tasks(image_id)
        self.assertEqual('queued', image['status'])
        self.assertIn('failure', tasks)
        self.assertIn('xenimage_import', tasks)
        self.assertIn(reason, tasks)
        self.assertEqual(disk_format, image['disk_format'])
        self.assertEqual('bare', image['container_format'])
        self.assertNotIn('vm_mode', image)
        self.assertEqual([], self.files_for(image_id))
        return image_id

    def assert_corpus_case_refused(self, name, claimed, builder, reason):
        path = builder(self.dir)
        image_id, proc = self.import_file(path, claimed)
        image = self.wait_settled(image_id, staged_only=proc.returncode != 0)
        self.assertEqual('queued', image['status'])
        self.assertEqual(claimed, image['disk_format'])
        self.assertNotIn('vm_mode', image)
        self.assertEqual([], self.files_for(image_id))
        tasks = self.tasks(image_id)
        if proc.returncode:
            # Glance's own upload-time check refused it while staging.
            self.assertIn('does not match', proc.stderr)
        else:
            self.assertIn('xenimage_import', tasks)
            self.assertIn(reason, tasks)
        # No server path ever reaches the user.
        self.assertNotIn(os.path.dirname(self.server.staging), tasks)
        self.assertNotIn(self.dir, tasks)

    def _vm_kib(self, pid, field):
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
        return 0

    def test_hostile_headers_cost_the_api_worker_little_memory(self):
        # Uploads whose headers ask for gigabytes: the workers' peak RSS
        # (VmHWM, reset first) stays within 100 MB of what they held.
        uploads = [
            hostile._huge_record(b'L', 1024 * MiB)(self.dir),
            hostile._tap_vhd_with(batmap_size=0xFFFFFFFF)(self.dir),
            hostile._vhd_every_block_shared(self.dir),
        ]
        pids = self.server.worker_pids()
        before = {}
        for pid in pids:
            with open('/proc/%d/clear_refs' % pid, 'w') as f:
                f.write('5')
            before[pid] = self._vm_kib(pid, 'VmRSS')
        statuses = []
        for path in uploads:
            image_id, proc = self.import_file(path, 'vhd')
            statuses.append(self.wait_settled(image_id)['status'])
        # A forged batmap only fails the pass-through check: the image is
        # re-written; the other two are refused.
        self.assertEqual(['queued', 'active', 'queued'], statuses)
        for pid in pids:
            grew = self._vm_kib(pid, 'VmHWM') - before[pid]
            self.assertLess(grew * 1024, 100 * MiB, pid)

    def test_backing_file_refused(self):
        self.assert_refused(
            hostile.build('qcow2-backing-absolute', self.dir), 'qcow2',
            'backing file')

    def test_external_data_file_refused(self):
        self.assert_refused(
            hostile.build('qcow2-data-file', self.dir), 'qcow2',
            'data_file')

    def test_raw_claiming_qcow2_refused(self):
        self.assert_refused(
            hostile.build('claims-qcow2-is-raw', self.dir), 'qcow2',
            'claims to be qcow2')

    def test_above_size_cap_refused(self):
        path = os.path.join(self.dir, 'big.qcow2')
        images.run('qemu-img', 'create', '-q', '-f', 'qcow2', path, '2G')
        self.assert_refused(path, 'qcow2', 'above the configured limit')

    def test_refused_image_can_be_imported_again(self):
        image_id = self.assert_refused(
            hostile.build('claims-qcow2-is-raw', self.dir), 'qcow2',
            'claims to be')
        good = images.qemu_convert(
            images.make_sparse(os.path.join(self.dir, 'ok.raw'), 4 * MiB,
                               [(0, MiB)]),
            os.path.join(self.dir, 'ok.qcow2'), 'qcow2')
        self.glance('image-stage', '--file', good, image_id)
        self.glance('image-import', '--import-method', 'glance-direct',
                    image_id)
        deadline = time.monotonic() + 60
        while self.show(image_id)['status'] != 'active':
            self.assertLess(time.monotonic(), deadline, self.tasks(image_id))
            time.sleep(0.5)
        image = self.show(image_id)
        self.assertEqual(('vhd', 'ovf'), (image['disk_format'],
                                          image['container_format']))


hostile.add_case_tests(ImportRefusesTest, 'assert_corpus_case_refused',
                       prefix='test_corpus_')
