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

"""What a signal cleans up: registered work files and child groups."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import fixtures
import testtools

from xenimage_import import cleanup


class CleanupTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def test_remove_forgets_the_path_and_tolerates_it_gone(self):
        path = os.path.join(self.dir, 'work')
        open(path, 'w').close()
        cleanup.add_path(path)
        cleanup.remove(path)
        self.assertFalse(os.path.exists(path))
        self.assertNotIn(path, cleanup._PATHS)
        cleanup.remove(path)        # already gone: no error

    def test_a_signal_removes_work_files_kills_children_and_exits(self):
        # A process registers a work file and a child's process group,
        # then is sent SIGTERM: both are gone and it exits 128 + 15.
        work = os.path.join(self.dir, 'work.part')
        script = textwrap.dedent('''
            import os, subprocess, sys, time
            from xenimage_import import cleanup
            cleanup.exit_on_signal()
            open(sys.argv[1], 'w').close()
            cleanup.add_path(sys.argv[1])
            child = subprocess.Popen(['sleep', '60'],
                                     start_new_session=True)
            cleanup.add_group(child.pid)
            print(child.pid, flush=True)
            time.sleep(60)
        ''')
        proc = subprocess.Popen([sys.executable, '-c', script, work],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        child = int(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(128 + signal.SIGTERM, proc.returncode)
        self.assertIn('interrupted by signal %d' % signal.SIGTERM, err)
        self.assertFalse(os.path.exists(work))
        # The child was killed (a zombie until its parent, gone, is reaped
        # by init; either way it no longer runs sleep). SIGKILL is acted
        # on when the child is next scheduled: allow it a moment.
        deadline = time.monotonic() + 5
        while True:
            try:
                with open('/proc/%d/stat' % child) as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
            except FileNotFoundError:
                state = 'gone'
            if state in ('gone', 'Z') or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertIn(state, ('gone', 'Z'))
