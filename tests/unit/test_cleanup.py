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


class UndoActionsTest(testtools.TestCase):
    """What lives elsewhere is undone on a signal, within a bound."""

    def run_script(self, body, *args):
        script = textwrap.dedent('''
            import os, signal, sys, time
            from xenimage_import import cleanup
            cleanup.exit_on_signal()
        ''') + textwrap.dedent(body)
        proc = subprocess.Popen([sys.executable, '-c', script] + list(args),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err, time.monotonic() - start

    def test_actions_run_newest_first_then_the_process_exits(self):
        rc, out, _err, _ = self.run_script('''
            cleanup.add_action('session', lambda: print('logout'))
            cleanup.add_action('vdi', lambda: print('destroy vdi'))
            cleanup.add_action('gone', lambda: print('never'))
            cleanup.discard_action('gone')
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        ''')
        self.assertEqual(128 + signal.SIGTERM, rc)
        self.assertEqual(['destroy vdi', 'logout'], out.split('\n')[:2])
        self.assertNotIn('never', out)

    def test_a_hung_action_is_given_up_after_its_bound(self):
        rc, out, _err, seconds = self.run_script('''
            cleanup.ACTION_SECONDS = 1
            cleanup.add_action('hung', lambda: time.sleep(60))
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(60)
        ''')
        self.assertEqual(128 + signal.SIGHUP, rc)
        self.assertLess(seconds, 20)

    def test_a_signal_while_deferred_acts_once_the_undo_is_known(self):
        rc, out, _err, _ = self.run_script('''
            with cleanup.signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
                cleanup.add_action('made', lambda: print('undone'))
                print('registered', flush=True)
            time.sleep(30)
        ''')
        self.assertEqual(128 + signal.SIGTERM, rc)
        self.assertEqual(['registered', 'undone'], out.split('\n')[:2])
