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

"""Faults and load against the real Glance: full disk, killed worker,
broken qemu-img, and many imports at once.
"""

import os
import signal
import stat
import subprocess
import time

from lab import images
from tests.functional import base


MiB = images.MiB


class _SmallTmpfsTest(base.GlanceTestBase):
    """A Glance with one of its directories on a small tmpfs (root only)."""

    where = None        # 'staging' or 'store'
    tmpfs_size = None

    @classmethod
    def setUpClass(cls):
        cls.mounted = None
        super().setUpClass()

    @classmethod
    def _prepare(cls, server):
        path = getattr(server, cls.where)
        os.makedirs(path, exist_ok=True)
        if os.geteuid() != 0:
            return
        rc = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                             'size=%s' % cls.tmpfs_size, 'xenimage-test',
                             path]).returncode
        if rc == 0:
            cls.mounted = path

    @classmethod
    def tearDownClass(cls):
        # NOTE: unmounted before the base class removes the directories:
        # a mount point cannot be removed, and would be left behind.
        try:
            cls.server.stop()
            if cls.mounted:
                subprocess.run(['umount', '-l', cls.mounted])
        finally:
            super().tearDownClass()

    def setUp(self):
        super().setUp()
        if not self.mounted:
            self.skipTest('needs root to mount a small tmpfs')


class DiskFullTest(_SmallTmpfsTest):
    """Staging on a small tmpfs that the conversion fills."""

    where = 'staging'
    tmpfs_size = '48m'

    def test_full_disk_fails_cleanly(self):
        # 30 MiB of incompressible data: staged qcow2 + decoded raw do not
        # fit in 48 MiB.
        raw = images.make_random(os.path.join(self.dir, 'r.raw'), 30 * MiB)
        qcow2 = images.qemu_convert(raw, os.path.join(self.dir, 'r.qcow2'),
                                    'qcow2')
        image_id, _ = self.import_file(qcow2, 'qcow2')
        image = self.wait_settled(image_id)
        tasks = self.tasks(image_id)
        self.assertEqual('queued', image['status'])
        self.assertIn('No space left on device', tasks)
        self.assertNotIn(self.server.staging, tasks)
        self.assertEqual(('qcow2', 'bare'), (image['disk_format'],
                                             image['container_format']))
        self.assertEqual([], os.listdir(self.server.staging))


class StoreFullTest(_SmallTmpfsTest):
    """The store fills after the plugin published: every task reverts."""

    where = 'store'
    tmpfs_size = '1m'

    def test_store_failure_restores_the_image(self):
        raw = images.make_random(os.path.join(self.dir, 'r.raw'), 4 * MiB)
        image_id, _ = self.import_file(raw, 'raw', '--property',
                                       'vm_mode=pv')
        image = self.wait_settled(image_id)
        self.assertEqual('queued', image['status'], self.tasks(image_id))
        # _PublishImage's revert put back what it changed.
        self.assertEqual(('raw', 'bare', 'pv'), (
            image['disk_format'], image['container_format'],
            image['vm_mode']))
        self.assertNotIn('xenimage_source_format', image)
        self.assertEqual('0', image['min_disk'])
        self.assertEqual([], self.files_for(image_id))


class BrokenQemuImgTest(base.GlanceTestBase):
    """qemu-img missing from the server's PATH, or failing."""

    @classmethod
    def _server_env(cls, base_dir):
        cls.fakebin = os.path.join(base_dir, 'fakebin')
        os.makedirs(cls.fakebin)
        venv_bin = os.path.join(cls.release.venv, 'bin')
        return {'PATH': '%s:%s' % (cls.fakebin, venv_bin)}

    def set_qemu_img(self, script):
        path = os.path.join(self.fakebin, 'qemu-img')
        if script is None:
            if os.path.exists(path):
                os.unlink(path)
            return
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + script)
        os.chmod(path, stat.S_IRWXU)

    def qcow2(self):
        raw = images.make_sparse(os.path.join(self.dir, 'a.raw'), 8 * MiB,
                                 [(0, MiB)])
        return images.qemu_convert(raw, os.path.join(self.dir, 'a.qcow2'),
                                   'qcow2')

    def assert_fails_with(self, message):
        image_id, _ = self.import_file(self.qcow2(), 'qcow2')
        image = self.wait_settled(image_id)
        self.assertEqual('queued', image['status'])
        self.assertIn(message, self.tasks(image_id))
        self.assertEqual([], self.files_for(image_id))

    def test_missing_qemu_img(self):
        self.set_qemu_img(None)
        self.assert_fails_with('cannot run qemu-img')

    def test_failing_qemu_img(self):
        self.set_qemu_img('echo "qemu-img: simulated I/O error" >&2\n'
                          'exit 1\n')
        self.assert_fails_with('simulated I/O error')


class KilledWorkerTest(base.GlanceTestBase):
    """SIGKILL the uWSGI worker in the middle of a conversion."""

    # zlib-ng at level 6 keeps the conversion busy for a few seconds.
    plugin_conf = {'compression_level': 6}

    def test_killed_worker_leaves_nothing_behind(self):
        other = images.qemu_convert(
            images.make_sparse(os.path.join(self.dir, 'o.raw'), 8 * MiB,
                               [(0, MiB)]),
            os.path.join(self.dir, 'o.qcow2'), 'qcow2')
        other_id, _ = self.import_file(other, 'qcow2')
        other_image = self.wait_settled(other_id)
        self.assertEqual('active', other_image['status'])

        big = images.make_ext4(os.path.join(self.dir, 'big.raw'), 640 * MiB,
                               400 * MiB)
        image_id, _ = self.import_file(big, 'raw')
        deadline = time.monotonic() + 60
        while not [n for n in os.listdir(self.server.staging)
                   if n.startswith(image_id + '.') and n.endswith('.part')]:
            self.assertLess(time.monotonic(), deadline,
                            'conversion never started')
            time.sleep(0.05)
        workers = self.server.worker_pids()
        self.assertTrue(workers)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        # uWSGI's master respawns the worker. The conversion worker follows
        # the API worker it served: it is gone, and so are its work files.
        self.server.wait_ready()
        deadline = time.monotonic() + 15
        while _conversion_workers() or [
                n for n in os.listdir(self.server.staging)
                if n.startswith(image_id + '.')]:
            self.assertLess(time.monotonic(), deadline,
                            'the conversion outlived its API worker')
            time.sleep(0.1)

        # The next import on the node works, and leaves nothing of the
        # dead one.
        third = images.qemu_convert(
            images.make_sparse(os.path.join(self.dir, 't.raw'), 8 * MiB,
                               [(MiB, MiB)]),
            os.path.join(self.dir, 't.qcow2'), 'qcow2')
        third_id, _ = self.import_file(third, 'qcow2')
        self.assertEqual('active', self.wait_settled(third_id)['status'])
        leftovers = [n for n in os.listdir(self.server.staging)
                     if n.startswith(image_id + '.')]
        self.assertEqual([], leftovers)

        self.glance('image-delete', image_id)
        self.assertEqual([], self.files_for(image_id))
        # The image imported before the crash is untouched.
        data = self.download(other_id)
        rc, out, err = base.cli('check', data)
        self.assertEqual(0, rc, out + err)
        self.assertEqual(other_image['checksum'],
                         self.show(other_id)['checksum'])


def _conversion_workers():
    """PIDs of running conversion workers (plugin children)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if b'xenimage_import.glance.worker' in argv:
            found.append(int(pid))
    return found


class LoadTest(base.PostgresMixin, base.GlanceTestBase):
    """Eight imports at once, two conversion slots, Glance on PostgreSQL."""

    # zlib-ng level 6 makes each conversion last long enough to overlap.
    plugin_conf = {'max_concurrent_conversions': 2, 'compression_level': 6}
    threads = 10

    def test_eight_concurrent_imports(self):
        sources = []
        for n in range(8):
            raw = images.make_sparse(
                os.path.join(self.dir, 'img%d.raw' % n), (96 + n) * MiB,
                images.scattered_regions((96 + n) * MiB, 4, 16 * MiB,
                                         seed=n), seed=n)
            if n % 2:
                path = images.qemu_convert(
                    raw, os.path.join(self.dir, 'img%d.qcow2' % n), 'qcow2')
                sources.append((raw, path, 'qcow2'))
            else:
                sources.append((raw, raw, 'raw'))

        ids, records = self.import_all([s[1:] for s in sources])
        self.assertEqual(['active'] * 8, [r['status'] for r in records],
                         [self.tasks(i) for i in ids])
        for image_id, (raw, _path, fmt) in zip(ids, sources):
            _data, vhd = self.downloaded_vhd(image_id)
            same, message = images.qemu_compare(vhd, 'vpc', raw, 'raw')
            self.assertTrue(same, '%s (%s): %s' % (image_id, fmt, message))
        with open(self.server.api_log) as f:
            log = f.read()
        self.assertIn('waiting for a slot', log)
