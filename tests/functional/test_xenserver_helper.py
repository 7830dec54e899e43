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

"""``xenimage-convert --helper xenserver``: what it converts, and how.

On the XAPI simulator (tests/functional/xenserver_base.py).
"""

import gzip
import os
import time

from lab import images
from lab import xapisim
from tests.functional import xenserver_base as xsbase
from xenimage_import import archive
from xenimage_import.helpers.xenserver import dom0

MiB = images.MiB
GiB = images.GiB


class XenServerHelperTest(xsbase.XenServerHelperBase):
    """Conversions on the host, each path of the helper."""

    def test_qcow2_becomes_the_sr_file_as_tarball(self):
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])
        calls = self.sim.calls
        for method in ('VDI.create', 'Async.host.call_plugin', 'VDI.destroy',
                       'task.destroy'):
            self.assertIn(method, calls)
        self.assertLess(calls.index('VDI.create'),
                        calls.index('Async.host.call_plugin'))

    def test_more_conversions_in_a_row_than_receiver_ports(self):
        # Each receiver port sits in TIME-WAIT after its upload; twelve
        # conversions one after the other on ten ports all succeed.
        for n in range(12):
            rc, out, err = self.convert(dest='disk%d.tgz' % n,
                                        receiver_port_range='19600:19609')
            self.assertEqual(0, rc, 'conversion %d: %s' % (n, err))
        self.assert_nothing_left(output=['disk%d.tgz' % n
                                         for n in range(12)])

    def test_bare_vhd_output(self):
        rc, out, err = self.convert(source=self.raw, dest='disk.vhd')
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.vhd'])

    def exported(self):
        return [args['transfer'] for fn, args in self.sim.plugin_calls
                if fn == dom0.FN_EXPORT]

    def test_vhd_transfer_is_packed_here(self):
        rc, out, err = self.convert(transfer_format='vhd',
                                    args=('--level', '1'))
        self.assertEqual(0, rc, err)
        self.assertEqual(['vhd'], self.exported())
        self.assert_converted()
        # Packed by this node's writer (its tar header, not GNU tar's).
        with gzip.open(self.dest) as f:
            head = f.read(archive.TAR_BLOCK)
        vhd_size = os.path.getsize(images.extract_member(self.dest,
                                                         self.dir))
        mtime = int(archive.TAR_HEADER.unpack(head).mtime.rstrip(b'\0'), 8)
        self.assertEqual(archive.tar_header(vhd_size, mtime), head)
        self.assert_nothing_left(output=['disk.tgz'])

    def test_tgz_transfer_both_outputs(self):
        for dest in ('disk.tgz', 'disk.vhd'):
            rc, out, err = self.convert(transfer_format='tgz', dest=dest)
            self.assertEqual(0, rc, err)
            self.assert_converted()
        self.assertEqual(['tgz', 'tgz'], self.exported())
        self.assert_nothing_left(output=['disk.tgz', 'disk.vhd'])

    def test_pool_member_redirects_to_master(self):
        pool = self.simulator(members=1)
        rc, out, err = self.convert(sim=pool,
                                    hosts='xs:%s' % pool.hosts[1].url)
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def test_local_sr_of_a_member(self):
        # The master answers import_raw_vdi with 302 to the member, and
        # the plugin must run in the member's dom0, where the SR is.
        pool = self.simulator(members=1, sr_host=1)
        rc, out, err = self.convert(sim=pool)
        self.assertEqual(0, rc, err)
        self.assertEqual(1, len(pool.redirects))
        self.assert_converted()
        self.assert_nothing_left(pool, output=['disk.tgz'])

    def test_host_with_most_free_sr_space_converts(self):
        roomy = self.simulator(sr_size=512 * GiB)
        rc, out, err = self.convert(hosts='xs-small:%s,xs-roomy:%s' % (
            self.sim.url, roomy.url))
        self.assertEqual(0, rc, err)
        self.assertIn('VDI.create', roomy.calls)
        self.assertNotIn('VDI.create', self.sim.calls)
        self.assertEqual([], self.sim.leftovers())
        self.assert_nothing_left(roomy, output=['disk.tgz'])

    def test_the_space_an_orphan_held_counts_once_it_is_swept(self):
        old = str(int(time.time()) - 3 * 24 * 3600)
        _, orphan = self.sim.add_vdi(4 * MiB, {
            'xenimage_import': 'conversion',
            'xenimage_import_created': old})
        with open(os.path.join(self.sim.sr_dir, orphan + '.vhd'), 'ab') as f:
            f.write(os.urandom(96 * MiB))
        # Room for the image and the margin only without the orphan.
        self.sim.sr['physical_size'] = str(self.sim.sr_utilisation()
                                           + 8 * MiB)
        rc, out, err = self.convert(sr_free_space_margin='16')
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_orphaned_vdis_of_dead_conversions_are_destroyed(self):
        kept = self.add_vdis_of_other_conversions()
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assertEqual(kept, set(self.sim.vdis))


class _InterpreterMixin(object):
    """The dom0 plugin under one of dom0's interpreters."""

    def test_converts(self):
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()
        self.assert_nothing_left(output=['disk.tgz'])

    def test_refusal_reaches_the_driver(self):
        self.sim.faults['token'] = 'not-the-token'
        self.assert_refused(self.convert(), 'receiver answered 403')


def _interpreter_tests():
    found = xapisim.dom0_pythons()
    for label in ('python2.7', 'python3.6'):
        name = 'Dom0%sTest' % label.replace('python', 'Python').replace(
            '.', '')
        attrs = {'python': found.get(label)}
        if label not in found:
            attrs['setUp'] = lambda self, label=label: self.skipTest(
                '%s is not installed here' % label)
        globals()[name] = type(name, (_InterpreterMixin,
                                      xsbase.XenServerHelperBase), attrs)


_interpreter_tests()
