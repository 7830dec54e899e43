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

"""A confined child reads its input, writes its output, and nothing else.

Real children (coreutils, bash, qemu-img) under the real kernel features;
where this machine lacks one, the test says so instead of passing.
"""

import os
import shutil
import socket
import subprocess
import tempfile

import testtools

from xenimage_import import children
from xenimage_import import sandbox
from xenimage_import.source import qemu

LIMITS = children.Limits(cpu_time=10, address_space=1024 ** 3, wall_time=20)


class SandboxTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        found = sandbox.support()
        if not (found.landlock_abi >= 4 and found.netns):
            self.skipTest('this kernel confines with %s only'
                          % found.describe())
        self.dir = tempfile.mkdtemp(prefix='xenimage-sandbox-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.input = os.path.join(self.dir, 'input')
        self.output = os.path.join(self.dir, 'output')
        for path in (self.input, self.output):
            with open(path, 'w') as f:
                f.write('data\n')

    def run_confined(self, *argv):
        policy = sandbox.Policy(read=(self.input,), write=(self.output,))
        with children.Child(list(argv), LIMITS, sandbox=policy,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True) as child:
            out, err = child.proc.communicate()
        return child.proc.returncode, out, err

    def test_reads_its_input(self):
        self.assertEqual((0, 'data\n'),
                         self.run_confined('cat', self.input)[:2])

    def test_reads_no_other_host_file(self):
        beside = os.path.join(self.dir, 'beside')
        with open(beside, 'w') as f:
            f.write('secret\n')
        for path in ('/etc/hostname', '/etc/passwd', beside):
            rc, out, err = self.run_confined('cat', path)
            self.assertEqual((1, ''), (rc, out), path)
            self.assertIn('Permission denied', err)

    def test_writes_its_output_and_nothing_else(self):
        self.assertEqual(0, self.run_confined(
            'bash', '-c', 'echo more >> "$0"', self.output)[0])
        rc, _, _ = self.run_confined(
            'bash', '-c', 'echo x > "$0"', os.path.join(self.dir, 'new'))
        self.assertNotEqual(0, rc)
        self.assertEqual(['input', 'output'], sorted(os.listdir(self.dir)))

    def test_opens_no_socket(self):
        server = socket.socket()
        self.addCleanup(server.close)
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        rc, _, _ = self.run_confined(
            'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/%d' % port)
        self.assertNotEqual(0, rc)
        self.assertRaises(socket.timeout, server.accept)

    def test_qemu_img_reads_only_what_it_was_given(self):
        raw = os.path.join(self.dir, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(1024 * 1024)
        out, _ = qemu.run(('info', '-f', 'raw', '--output=json', raw),
                          [raw], 'cannot read')
        self.assertIn('"virtual-size": 1048576', out)
        with qemu.Child(('info', '-f', 'raw', self.input),
                        qemu.INSPECTION_LIMITS, reads=[raw],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE) as child:
            _, err = child.proc.communicate()
        self.assertNotEqual(0, child.proc.returncode)
        self.assertIn('Permission denied', err)
