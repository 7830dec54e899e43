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

"""``xenimage-convert --helper xenserver``: every failure, named.

On the XAPI simulator (tests/functional/xenserver_base.py).
"""

import os
import socket
import time

from lab import images
from tests.functional import xenserver_base as xsbase
from xenimage_import import conf as xconf
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.source import inspect
from xenimage_import.vhd import layout as L

MiB = images.MiB
GiB = images.GiB


class XenServerHelperFailureTest(xsbase.XenServerHelperBase):
    """Each failure named, and nothing left on either side."""

    def test_bad_credentials(self):
        self.assert_refused(self.convert(password='wrong'),
                            'refused the credentials of user root')

    def test_unreachable_host(self):
        self.assert_refused(self.convert(hosts='xs-sim:http://127.0.0.1:9'),
                            'cannot reach XAPI')

    def test_sr_that_is_not_a_file_sr(self):
        self.sim = self.simulator(sr_type='lvm')
        self.assert_refused(self.convert(), 'is of type lvm',
                            'needs a file SR')

    def test_unknown_sr_uuid(self):
        self.assert_refused(
            self.convert(sr_uuid='6d3d4a9e-0000-4000-8000-000000000000'),
            'no SR with uuid')

    def test_sr_full(self):
        # A thin SR never says SR_FULL at VDI.create: refused before it.
        self.sim = self.simulator(sr_size=16 * MiB)
        self.assert_refused(self.convert(), 'has 16.0 MiB free',
                            'plus a margin of 1.0 GiB (sr_free_space_margin)')
        self.assertNotIn('VDI.create', self.sim.calls)

    def test_sr_free_space_margin(self):
        self.sim = self.simulator(sr_size=GiB)
        self.assert_refused(self.convert(), 'sr_free_space_margin')
        rc, out, err = self.convert(sr_free_space_margin=0)
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_sr_preferring_qcow2_still_gets_a_vhd(self):
        self.sim = self.simulator(default_image_format='qcow2')
        rc, out, err = self.convert()
        self.assertEqual(0, rc, err)
        self.assert_converted()

    def test_qcow2_vdi_is_refused_by_the_plugin_with_what_it_found(self):
        self.sim = self.simulator(default_image_format='qcow2')
        self.sim.faults['ignore_sm_config'] = True
        self.assert_refused(self.convert(), 'has no VHD file in its SR',
                            '.qcow2')

    def test_above_the_vhd_limit_refused_before_any_xapi_call(self):
        conf = xconf.load([xsbase.write_conf(
            os.path.join(self.dir, 'xenserver.conf'), self.sim)])
        source = inspect.SourceImage(
            path=self.qcow2, format='qcow2', virtual_size=L.MAX_VHD_SIZE + 1,
            file_size=os.path.getsize(self.qcow2), detected='qcow2')
        helper = helpers.load('xenserver', conf=conf)
        error = self.assertRaises(
            exception.ImageTooLarge, helper.convert, helpers.ConversionRequest(
                source=source, destination=os.path.join(self.out_dir, 'x')))
        self.assertIn('the VHD SR limit', str(error))
        self.assertEqual([], self.sim.calls)
        self.assert_nothing_left()

    def test_import_task_failure(self):
        self.sim.faults['corrupt_upload'] = True
        self.assert_refused(self.convert(),
                            'could not write the image into the VDI')

    def test_plugin_not_installed(self):
        self.sim.remove_plugin()
        self.assert_refused(self.convert(), 'xenimage_helper is not '
                            'installed', 'xenimage-dom0-plugin script')

    def test_plugin_missing_on_the_member_holding_the_sr_is_named(self):
        pool = self.simulator(members=1, sr_host=1)
        master, member = pool.hosts
        os.unlink(os.path.join(member.plugins_dir, dom0.PLUGIN_NAME))
        self.assert_refused(
            self.convert(sim=pool),
            'XenServer host %s (it holds SR' % member.address,
            'ssh root@%s sh' % member.address, sim=pool)

    def test_plugin_of_another_major_version(self):
        path = os.path.join(self.sim.master.plugins_dir, dom0.PLUGIN_NAME)
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace("VERSION = '%s'" % dom0.plugin_version(),
                                 "VERSION = '0.9'"))
        self.assert_refused(self.convert(), 'is version 0.9',
                            'reinstall it with xenimage-dom0-plugin')

    def test_plugin_refuses_a_damaged_sr_file(self):
        self.sim.faults['damage_sr_file'] = True
        self.assert_refused(self.convert(), 'dom0 plugin refused',
                            'vhd-util check')

    def test_plugin_refuses_an_attached_vdi(self):
        self.sim.faults['attached'] = True
        self.assert_refused(self.convert(), 'dom0 plugin refused',
                            'is attached')

    def test_receiver_timeout_gives_up_the_export(self):
        self.sim.faults['plugin_delay'] = 30
        start = time.monotonic()
        self.assert_refused(self.convert(receiver_timeout=1),
                            'sent nothing to https://127.0.0.1:',
                            'within 1 s')
        # Not held up by a cancel that xapi never carries out.
        self.assertLess(time.monotonic() - start, 25)
        self.assertEqual(['Async.host.call_plugin'], self.sim.cancels)

    def test_a_given_up_plugin_ends_by_itself(self):
        # task.cancel leaves the plugin running: it must end on its own,
        # on the receiver the driver closed, and its task then goes away.
        self.sim.faults['plugin_delay'] = 4
        self.assert_refused(self.convert(receiver_timeout=1),
                            'within 1 s')
        self.assertEqual(1, len(self.sim.tasks))
        deadline = time.monotonic() + 60
        while self.sim.tasks and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual({}, self.sim.tasks)

    def test_unreachable_receiver_fails_in_seconds_before_any_vdi(self):
        # dom0 is told an address where nothing listens (the receiver is
        # bound to 127.0.0.1 only): the probe says so before VDI.create.
        start = time.monotonic()
        self.assert_refused(self.convert(receiver_address='127.0.0.2'),
                            'cannot reach 127.0.0.2', 'dom0 must reach',
                            'receiver_port_range')
        self.assertLess(time.monotonic() - start, 20)
        self.assertIn('host.call_plugin', self.sim.calls)
        self.assertNotIn('VDI.create', self.sim.calls)

    def test_a_silent_receiver_address_fails_on_the_probe_with_the_hint(self):
        # As behind a firewall that drops dom0's packets: something at the
        # advertised address takes the connection and never answers TLS.
        # The probe must give up first, with what to change, not the XAPI
        # call carrying it ("timed out").
        for port in range(19690, 19692):
            listener = socket.socket()
            self.addCleanup(listener.close)
            listener.bind(('127.0.0.3', port))
            listener.listen(8)
        start = time.monotonic()
        self.assert_refused(self.convert(receiver_address='127.0.0.3',
                                         receiver_port_range='19690:19691',
                                         api_timeout=6),
                            'cannot reach 127.0.0.3', 'dom0 must reach')
        self.assertLess(time.monotonic() - start, 6 + 3)
        self.assertNotIn('VDI.create', self.sim.calls)

    def test_wrong_token_is_refused_by_the_receiver(self):
        self.sim.faults['token'] = 'not-the-token'
        self.assert_refused(self.convert(), 'receiver answered 403')

    def test_sha256_mismatch_discards_the_upload(self):
        self.sim.faults['summary_sha256'] = '0' * 64
        self.assert_refused(self.convert(), 'is not what dom0 sent',
                            'discarded')

    def test_no_host_configured(self):
        rc, out, err = self.convert(hosts='')
        self.assertEqual(1, rc)
        self.assertIn('no XenServer host is configured', err)
