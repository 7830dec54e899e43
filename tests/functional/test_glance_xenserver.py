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

"""Glance imports with ``helper = xenserver``: real Glance, simulated host.

A real glance-api (uWSGI, 127.0.0.1) runs the plugin with the xenserver
helper, which talks to the XAPI simulator of lab/xapisim in this
process (no XenServer can run here). Every import, converted or refused,
must leave nothing behind: no VDI, task, session or SR staging directory
on the host; no work file, receiver file or staged data in Glance.
"""

import os
import shutil
import tempfile

from lab import images
from lab.xapisim import server
from tests.functional import base

MiB = images.MiB
GiB = images.GiB


class _XenServerGlanceBase(base.GlanceTestBase):
    """A glance-api with helper = xenserver and its simulated host."""

    max_concurrent_conversions = 2
    sim_options = {}

    @classmethod
    def setUpClass(cls):
        cls.sim_dir = tempfile.mkdtemp(prefix='xenimage-gxs-')
        cls.sim = server.XapiSimulator(cls.sim_dir,
                                       **cls.sim_options).start()
        cls.plugin_conf = {
            'helper': 'xenserver',
            'max_concurrent_conversions': cls.max_concurrent_conversions,
            'xenimage_xenserver': dict({
                'hosts': 'xs-sim:%s' % cls.sim.url,
                'password': cls.sim.password,
                'receiver_bind_host': '127.0.0.1',
                'receiver_port_range': '19700:19799',
                # Under load dom0 takes seconds to check the VHD first.
                'receiver_timeout': '60',
            }, **cls.xenserver_options())}
        try:
            super().setUpClass()
        except Exception:
            cls.sim.stop()
            shutil.rmtree(cls.sim_dir, ignore_errors=True)
            raise
        cls.src_dir = os.path.join(cls.base, 'sources')
        os.mkdir(cls.src_dir)
        cls.raw, cls.qcow2 = images.small_disk(cls.src_dir)

    @classmethod
    def xenserver_options(cls):
        return {}

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.sim_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.sim.faults.clear()
        saved = dict(self.sim.sr), self.sim.password
        self.addCleanup(self._restore, saved)

    def _restore(self, saved):
        self.sim.sr.clear()
        self.sim.sr.update(saved[0])
        self.sim.password = saved[1]
        self.sim.faults.clear()

    def assert_nothing_left(self, image_id, stored=False):
        self.assertEqual([], self.sim.leftovers())
        self.assertEqual([image_id] if stored else [],
                         self.files_for(image_id))

    def assert_import_converts(self):
        image_id, proc = self.import_file(self.qcow2, 'qcow2')
        image = self.wait_settled(image_id)
        self.assertEqual('active', image['status'], self.tasks(image_id))
        self.assertEqual(('vhd', 'ovf', 'hvm', 'qcow2'), (
            image['disk_format'], image['container_format'],
            image['vm_mode'], image['xenimage_source_format']))
        self.assertIn('Async.host.call_plugin', self.sim.calls)
        data, vhd = self.downloaded_vhd(image_id)
        self.assertEqual(str(os.path.getsize(data)), image['size'])
        rc, out, err = base.cli('check', data)
        self.assertEqual(0, rc, out + err)
        same, message = images.qemu_compare(vhd, 'vpc', self.raw, 'raw')
        self.assertTrue(same, message)
        self.assert_nothing_left(image_id, stored=True)

    def assert_import_fails(self, *phrases):
        image_id, proc = self.import_file(self.qcow2, 'qcow2')
        image = self.wait_settled(image_id)
        tasks = self.tasks(image_id)
        self.assertEqual('queued', image['status'], tasks)
        self.assertEqual('qcow2', image['disk_format'])
        self.assertEqual('bare', image['container_format'])
        self.assertNotIn('vm_mode', image)
        flat = ' '.join(tasks.split())
        for phrase in phrases:
            self.assertIn(phrase, flat)
        self.assert_nothing_left(image_id)


class GlanceXenServerTest(_XenServerGlanceBase):

    def test_import_converts_on_the_xenserver_host(self):
        self.assert_import_converts()

    def test_bad_credentials(self):
        self.sim.password = 'changed'
        self.assert_import_fails('refused the credentials of user root')

    def test_sr_not_a_file_sr(self):
        self.sim.sr['type'] = 'lvm'
        self.assert_import_fails('is of type lvm', 'needs a file SR')

    def test_sr_full(self):
        self.sim.sr['physical_size'] = str(16 * MiB)
        self.assert_import_fails('has 16.0 MiB free',
                                 'sr_free_space_margin')

    def test_import_task_failure(self):
        self.sim.faults['corrupt_upload'] = True
        self.assert_import_fails('could not write the image into the VDI')

    def test_plugin_failure(self):
        self.sim.faults['damage_sr_file'] = True
        self.assert_import_fails('dom0 plugin refused the export',
                                 'vhd-util check')

    def test_wrong_token(self):
        self.sim.faults['token'] = 'forged'
        self.assert_import_fails('receiver answered 403')

    def test_sha256_mismatch(self):
        self.sim.faults['summary_sha256'] = 'f' * 64
        self.assert_import_fails('is not what dom0 sent')


class ReceiverTimeoutTest(_XenServerGlanceBase):
    """A short receiver timeout, in a Glance of its own.

    Under load dom0 checks the VHD for seconds before it sends, so the
    other tests keep the long timeout.
    """

    @classmethod
    def xenserver_options(cls):
        return {'receiver_timeout': '3'}

    def test_receiver_timeout(self):
        self.sim.faults['plugin_delay'] = 30
        self.assert_import_fails('sent nothing to', 'within 3 s')


class GlanceXenServerPoolTest(_XenServerGlanceBase):
    """Two hosts over HTTPS, each certificate pinned, the SR on the member.

    The master redirects the import to the member, and the plugin runs in
    the member's dom0.
    """

    sim_options = {'members': 1, 'sr_host': 1, 'tls': True}

    @classmethod
    def xenserver_options(cls):
        return {'host_certificates': ','.join(
            '%s:sha256:%s' % item for item in cls.sim.fingerprints.items())}

    def test_import_converts_on_the_member_with_the_sr(self):
        redirects = len(self.sim.redirects)
        self.assert_import_converts()
        self.assertEqual(redirects + 1, len(self.sim.redirects))
        self.assertIn('//%s/' % self.sim.hosts[1].address,
                      self.sim.redirects[-1])


class GlanceXenServerLoadTest(base.PostgresMixin,
                              _XenServerGlanceBase):
    """Imports at once through one host: a receiver and a VDI each."""

    threads = 8

    def test_four_concurrent_imports(self):
        sources = []
        for n in range(4):
            raw = images.make_sparse(
                os.path.join(self.dir, 'img%d.raw' % n), (24 + n) * MiB,
                images.scattered_regions((24 + n) * MiB, 3, 2 * MiB,
                                         seed=n), seed=n)
            sources.append((raw, images.qemu_convert(
                raw, os.path.join(self.dir, 'img%d.qcow2' % n), 'qcow2')))
        ids, records = self.import_all([(qcow2, 'qcow2')
                                        for _raw, qcow2 in sources])
        self.assertEqual(['active'] * 4, [r['status'] for r in records],
                         [self.tasks(i) for i in ids])
        for image_id, (raw, _qcow2) in zip(ids, sources):
            _data, vhd = self.downloaded_vhd(image_id)
            same, message = images.qemu_compare(vhd, 'vpc', raw, 'raw')
            self.assertTrue(same, '%s: %s' % (image_id, message))
        self.assertEqual(4, self.sim.calls.count('VDI.create'))
        self.assertEqual([], self.sim.leftovers())
