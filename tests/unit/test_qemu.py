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

"""qemu-img runs under a wall-clock deadline, and its messages lose paths."""

import os
import shutil
import tempfile
import time

import fixtures
from oslo_utils import units
import testtools

from xenimage_import import children
from xenimage_import import exception
from xenimage_import.source import qemu


class DeadlineTest(testtools.TestCase):
    """qemu-img opening a FIFO blocks in open(2): no CPU limit fires."""

    def setUp(self):
        super().setUp()
        d = tempfile.mkdtemp(prefix='xenimage-fifo-')
        self.addCleanup(shutil.rmtree, d, True)
        self.fifo = os.path.join(d, 'image')
        os.mkfifo(self.fifo)
        self.limits = children.Limits(cpu_time=30, address_space=units.Gi,
                                      wall_time=1)

    def test_qemu_img_blocked_on_a_fifo_is_killed_with_its_group(self):
        start = time.monotonic()
        with qemu.Child(('info', '-f', 'raw', self.fifo),
                        self.limits, reads=[self.fifo]) as child:
            pid = child.proc.pid
            child.proc.wait()
        self.assertTrue(child.timed_out)
        self.assertLess(time.monotonic() - start, 10)
        self.assertRaises(ProcessLookupError, os.killpg, pid, 0)

    def test_limits_and_malloc_arenas_reach_qemu_img(self):
        limits = children.Limits(cpu_time=30, address_space=units.Gi,
                                 wall_time=20)
        with qemu.Child(('info', '-f', 'raw', self.fifo), limits,
                        reads=[self.fifo]) as child:
            proc = '/proc/%d/' % child.proc.pid
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with open(proc + 'comm') as f:
                    if f.read().strip() == 'qemu-img':
                        break
                time.sleep(0.01)
            with open(proc + 'environ', 'rb') as f:
                environ = f.read().split(b'\0')
            with open(proc + 'limits') as f:
                table = f.read()
        self.assertIn(b'MALLOC_ARENA_MAX=2', environ)
        self.assertRegex(table, r'Max address space\s+%d\s+%d'
                         % (units.Gi, units.Gi))
        self.assertRegex(table, r'Max cpu time\s+30\s+30')

    def test_run_reports_the_deadline(self):
        e = self.assertRaises(exception.InvalidImage, qemu.run,
                              ('info', '-f', 'raw', self.fifo), [self.fifo],
                              'cannot read', self.limits)
        self.assertEqual('cannot read: qemu-img did not finish within 1 s',
                         str(e))

    def test_child_killed_when_its_caller_fails(self):
        limits = children.Limits(cpu_time=30, address_space=units.Gi,
                                 wall_time=60)
        try:
            with qemu.Child(('info', '-f', 'raw', self.fifo),
                            limits) as child:
                raise KeyboardInterrupt()
        except KeyboardInterrupt:
            pass
        self.assertIsNotNone(child.proc.returncode)
        self.assertRaises(ProcessLookupError, os.killpg, child.proc.pid, 0)


class ScrubTest(testtools.TestCase):

    def test_the_image_is_named_as_such(self):
        self.assertEqual(
            'the image: image is corrupt',
            qemu.reason('qemu-img: /s/x.qcow2: image is corrupt',
                        ['/s/x.qcow2']))

    def test_any_other_path_is_hidden(self):
        for message in ("Could not open '/var/lib/glance/staging/other': "
                        "No such file", 'failed to open /etc/shadow: EPERM',
                        'json:{"file": "/srv/x y"} bad'):
            scrubbed = exception.scrub_paths(message)
            self.assertNotIn('/var', scrubbed)
            self.assertNotIn('/etc', scrubbed)
            self.assertNotIn('/srv', scrubbed)
            self.assertIn('a file', scrubbed)

    def test_words_with_slashes_stay(self):
        self.assertEqual('read/write 3/4 done',
                         exception.scrub_paths('read/write 3/4 done'))

    def test_urls_name_hosts_not_files(self):
        # The receiver address dom0 could not reach is the operator's clue.
        self.assertEqual('nothing sent to https://10.0.0.5:19600 (a file)',
                         exception.scrub_paths(
                             'nothing sent to https://10.0.0.5:19600 '
                             '(/etc/xenimage/cert.pem)'))


class ChildContextTest(testtools.TestCase):

    def test_prlimit_applies_the_limits_without_an_interpreter(self):
        argv = qemu.command(('info', 'x'), qemu.INSPECTION_LIMITS)
        self.assertEqual(['prlimit', '--'], [argv[0], argv[3]])
        self.assertEqual(['qemu-img', 'info', 'x'], argv[4:])

    def test_without_prlimit_the_context_interpreter_wraps_qemu_img(self):
        # Under uWSGI sys.executable is not Python: the plugin sets
        # Glance's interpreter as the context every child uses.
        self.useFixture(fixtures.MockPatch('shutil.which',
                                           return_value=None))
        self.addCleanup(children.set_context, children.ChildContext())
        children.set_context(children.ChildContext('/opt/glance/bin/python3'))
        argv = qemu.command(('info', 'x'), qemu.INSPECTION_LIMITS)
        self.assertEqual(['/opt/glance/bin/python3', '-m',
                          'oslo_concurrency.prlimit'], argv[:3])
        self.assertEqual(['--', 'qemu-img', 'info', 'x'], argv[-4:])
