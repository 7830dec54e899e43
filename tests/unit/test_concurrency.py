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

import os
import subprocess
import sys
import threading
import time

import fixtures
import testtools

from xenimage_import import concurrency
from xenimage_import import workfiles

IMAGE_A = '11111111-2222-3333-4444-555555555555'
IMAGE_B = '66666666-7777-8888-9999-000000000000'


class ConversionSlotsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.locks = self.useFixture(fixtures.TempDir()).path

    def test_threads_over_the_cap_wait(self):
        slots = concurrency.ConversionSlots(self.locks, 2, poll_interval=0.01)
        running = []
        peak = []
        guard = threading.Lock()

        def convert(n):
            with slots.convert('%08d-0000-0000-0000-000000000000' % n):
                with guard:
                    running.append(n)
                    peak.append(len(running))
                time.sleep(0.05)
                with guard:
                    running.remove(n)

        threads = [threading.Thread(target=convert, args=(n,))
                   for n in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(5, len(peak))
        self.assertEqual(2, max(peak))

    def test_cap_holds_across_processes(self):
        code = ('import sys, time; from xenimage_import import concurrency\n'
                's = concurrency.ConversionSlots(sys.argv[1], 1)\n'
                'with s.convert(sys.argv[2]):\n'
                '    print("in", flush=True); time.sleep(30)\n')
        other = subprocess.Popen([sys.executable, '-c', code, self.locks,
                                  IMAGE_B], stdout=subprocess.PIPE, text=True)
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        self.assertEqual('in\n', other.stdout.readline())
        slots = concurrency.ConversionSlots(self.locks, 1, poll_interval=0.01)
        entered = threading.Event()

        def convert():
            with slots.convert(IMAGE_A):
                entered.set()

        t = threading.Thread(target=convert)
        t.start()
        self.assertFalse(entered.wait(0.3))
        other.kill()                     # its locks die with it
        self.assertTrue(entered.wait(5))
        t.join()


class SweepTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.locks = self.useFixture(fixtures.TempDir()).path
        self.staging = self.useFixture(fixtures.TempDir()).path

    def touch(self, name):
        open(os.path.join(self.staging, name), 'w').close()
        return name

    def work_file(self, image_id, suffix, lock_path=None):
        prefix = workfiles.image_prefix(image_id, lock_path or self.locks)
        return self.touch(prefix + 'k2j4h_a1' + suffix)

    def test_removes_only_dead_work_files(self):
        stale = [self.work_file(IMAGE_A, '.raw'),
                 self.work_file(IMAGE_A, '.part')]
        live = self.work_file(IMAGE_B, '.vhd')
        kept = [self.touch(IMAGE_A),                 # Glance's staged data
                self.touch(IMAGE_A + '.tgz'),        # finished output
                self.touch('unrelated.raw')]
        slots = concurrency.ConversionSlots(self.locks, 2)
        with slots.convert(IMAGE_B):
            self.assertTrue(concurrency.is_converting(self.locks, IMAGE_B))
            removed = workfiles.sweep_stale(self.staging, self.locks)
        self.assertEqual(sorted(stale), sorted(removed))
        self.assertEqual(sorted(kept + [live]),
                         sorted(os.listdir(self.staging)))
        self.assertFalse(concurrency.is_converting(self.locks, IMAGE_B))

    def test_never_sweeps_another_nodes_files(self):
        # A staging directory shared by two nodes (each with its own lock
        # path): node B cannot see node A's liveness locks, so it must not
        # judge A's files, dead or alive.
        other_locks = self.useFixture(fixtures.TempDir()).path
        self.assertNotEqual(workfiles.node_tag(self.locks),
                            workfiles.node_tag(other_locks))
        theirs = [self.work_file(IMAGE_A, '.raw', other_locks),
                  self.work_file(IMAGE_B, '.part', other_locks)]
        ours = self.work_file(IMAGE_A, '.vhd')
        removed = workfiles.sweep_stale(self.staging, self.locks)
        self.assertEqual([ours], removed)
        self.assertEqual(sorted(theirs), sorted(os.listdir(self.staging)))
