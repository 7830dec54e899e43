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

"""SIGTERM, SIGHUP or Ctrl-C in any phase of a xenserver conversion.

A real ``xenimage-convert --helper xenserver`` process is signalled in
the local transport write, the upload into the VDI and dom0's export:
it exits 128 + the signal, and nothing is left here (no transport VHD,
no partial output) or on the simulated host (no session, task, VDI or
SR file).
"""

import os
import signal
import subprocess
import sys
import time

from lab import images
from tests.functional import xenserver_base as xsbase
from xenimage_import.helpers.xenserver import dom0

MiB = images.MiB


class SignalTest(xsbase.XenServerHelperBase):

    def setUp(self):
        super().setUp()
        # Large enough that each phase lasts long enough to be caught.
        self.source = images.make_random(os.path.join(self.dir, 'big.raw'),
                                         256 * MiB)

    def signalled(self, reached, signum, what):
        conf = xsbase.write_conf(os.path.join(self.dir, 'xs.conf'),
                                 self.sim)
        proc = subprocess.Popen(
            [sys.executable, '-m', 'xenimage_import.cmd.convert',
             '--helper', 'xenserver', '--config-file', conf, self.source,
             os.path.join(self.out_dir, 'disk.tgz')],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        deadline = time.monotonic() + 60
        while not reached():
            self.assertIsNone(proc.poll(), 'ended before %s' % what)
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.02)
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
        self.assertEqual(128 + signum, proc.returncode, err)
        self.assertIn('interrupted', err)
        self.assert_nothing_left()

    def _hidden_files(self, suffix):
        return [n for n in os.listdir(self.out_dir) if n.endswith(suffix)]

    def test_sigterm_while_writing_the_transport_vhd(self):
        self.signalled(lambda: self._hidden_files('.vhd'), signal.SIGTERM,
                       'the transport write')

    def test_sigterm_while_uploading_into_the_vdi(self):
        self.signalled(lambda: self.sim.vdis, signal.SIGTERM,
                       'the VDI creation')

    def test_sighup_while_dom0_exports(self):
        self.sim.faults['plugin_delay'] = 30
        self.signalled(lambda: any(fn == dom0.FN_EXPORT
                                   for fn, _ in self.sim.plugin_calls),
                       signal.SIGHUP, 'the export')

    def test_sigint_while_dom0_exports_logs_the_session_out(self):
        # Ctrl-C unwinds (KeyboardInterrupt); the logout must not depend
        # on the connection the interrupted call was using.
        self.sim.faults['plugin_delay'] = 30
        self.signalled(lambda: any(fn == dom0.FN_EXPORT
                                   for fn, _ in self.sim.plugin_calls),
                       signal.SIGINT, 'the export')
