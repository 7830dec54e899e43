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

"""What the xenserver helper's tests share: the simulator and the checks.

The simulator (lab/xapisim) stands in for a XenServer host: real
XML-RPC, real import_raw_vdi HTTP semantics, and the real dom0 plugin
executed with XAPI's argv/stdout protocol. Every test, whatever the
outcome, asserts that nothing is left behind on either side: no session,
task, VDI or staging directory on the host, no work file here.
"""

import os
import shutil
import tempfile
import time

import testtools

from lab import glance_server
from lab import images
from lab.xapisim import server
from tests.functional import base

MiB = images.MiB
GiB = images.GiB
PORTS = '19600:19699'


def write_conf(path, sim, **options):
    values = {'hosts': 'xs-sim:%s' % sim.url, 'password': sim.password,
              'receiver_bind_host': '127.0.0.1',
              'receiver_port_range': PORTS}
    values.update(options)
    with open(path, 'w') as f:
        f.write('[xenimage_xenserver]\n')
        for key, value in sorted(values.items()):
            f.write('%s = %s\n' % (key, value))
    return path


class XenServerHelperBase(testtools.TestCase):

    python = None
    sim_options = {}
    # Whose xenimage-convert runs (glance_server.RELEASES).
    release = glance_server.NEWEST

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.src_dir = tempfile.mkdtemp(prefix='xenimage-xs-src-')
        cls.raw, cls.qcow2 = images.small_disk(cls.src_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.src_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-xs-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out_dir = os.path.join(self.dir, 'out')
        os.mkdir(self.out_dir)
        self.sim = self.simulator()

    def simulator(self, **options):
        kwargs = dict(self.sim_options)
        kwargs.update(options)
        if self.python:
            kwargs['python'] = self.python
        sim = server.XapiSimulator(tempfile.mkdtemp(dir=self.dir),
                                   **kwargs).start()
        self.addCleanup(sim.stop)
        return sim

    def convert(self, source=None, dest='disk.tgz', sim=None, args=(),
                **options):
        conf = write_conf(os.path.join(self.dir, 'xenserver.conf'),
                          sim or self.sim, **options)
        self.dest = os.path.join(self.out_dir, dest)
        return base.cli('convert', '--helper', 'xenserver',
                        '--config-file', conf, *args, source or self.qcow2,
                        self.dest, release=self.release)

    def add_vdis_of_other_conversions(self):
        """Add three VDIs; return the two a sweep must keep.

        An orphan (days old), a running conversion's VDI and one not ours.
        """
        old = str(int(time.time()) - 3 * 24 * 3600)
        self.sim.add_vdi(4 * MiB, {'xenimage_import': 'conversion',
                                   'xenimage_import_created': old})
        running, _ = self.sim.add_vdi(4 * MiB, {
            'xenimage_import': 'conversion',
            'xenimage_import_created': str(int(time.time()))})
        other, _ = self.sim.add_vdi(4 * MiB, {})
        return {running, other}

    def assert_nothing_left(self, sim=None, output=()):
        self.assertEqual([], (sim or self.sim).leftovers())
        self.assertEqual(sorted(output), sorted(os.listdir(self.out_dir)))

    def assert_converted(self):
        rc, out, err = base.cli('check', self.dest)
        self.assertEqual(0, rc, out + err)
        vhd = self.dest
        if self.dest.endswith('.tgz'):
            vhd = images.extract_member(self.dest, self.dir)
        same, message = images.qemu_compare(vhd, 'vpc', self.raw, 'raw')
        self.assertTrue(same, message)

    def assert_refused(self, result, *phrases, sim=None):
        rc, out, err = result
        self.assertEqual(1, rc, out + err)
        self.assertEqual(1, len(err.strip().splitlines()), err)
        for phrase in phrases:
            self.assertIn(phrase, err)
        self.assert_nothing_left(sim)
