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

"""Bounds that hold whatever the upload: time, memory, files, processes.

Through the real commands: 1 TiB shared-pointer bombs are refused at
once with nothing written, the checker and the converter stay under
100 MB of RSS on inputs built to balloon a parser, a FIFO never blocks,
SIGTERM/SIGHUP leave no work file, and odd but legal names work.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import testtools

from lab import images
from tests import hostile
from tests import vhdchain
from tools import metadata_costs
from xenimage_import.vhd import layout as L

MiB = images.MiB
TiB = 1024 ** 4
RSS_LIMIT = 100 * MiB
# A bomb's refusal: measured at 0.3-0.4 s on the project's VM.
BOMB_SECONDS = 5


def _rss_of(argv, timeout=300):
    """(rc, out, err, peak RSS bytes) of ``argv`` alone."""
    return images.run_measured(argv, timeout=timeout)


def cmd(name, *args):
    return [sys.executable, '-m', 'xenimage_import.cmd.%s' % name] + list(
        args)


class _Dir(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-limits-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def listing(self):
        return sorted(os.listdir(self.dir))


class BombTest(_Dir):
    """1 TiB of disk from a few MiB: refused before any decoding."""

    def assert_bomb_refused(self, fmt):
        src = hostile.BOMBS[fmt](TiB)(self.dir)
        before = self.listing()
        dest = os.path.join(self.dir, 'out.tgz')
        start = time.monotonic()
        rc, out, err, rss = _rss_of(cmd('convert', src, dest))
        seconds = time.monotonic() - start
        self.assertEqual(1, rc, err)
        self.assertIn('expansion budget', err)
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertLess(seconds, BOMB_SECONDS)
        self.assertLess(rss, RSS_LIMIT)
        self.assertEqual(before, self.listing())

    def test_vhd(self):
        self.assert_bomb_refused('vhd')

    def test_qcow2(self):
        self.assert_bomb_refused('qcow2')

    def test_vmdk(self):
        self.assert_bomb_refused('vmdk')

    def test_vhdx(self):
        self.assert_bomb_refused('vhdx')


class MemoryTest(_Dir):
    """Length fields built to make a parser allocate are never trusted."""

    def assert_small(self, path):
        dest = os.path.join(self.dir, 'o.tgz')
        for argv in (cmd('check', path),
                     cmd('convert', '--source-format', 'vhd', path, dest)):
            rc, out, err, rss = _rss_of(argv)
            self.assertIn(rc, (0, 1), out + err)
            self.assertLess(rss, RSS_LIMIT, argv)
            self.assertNotIn('Traceback', err)

    def test_huge_gnu_long_name(self):
        self.assert_small(hostile._huge_record(b'L', 1024 * MiB)(self.dir))

    def test_huge_pax_record(self):
        self.assert_small(hostile._huge_record(b'x', 1024 * MiB)(self.dir))

    def test_huge_batmap(self):
        self.assert_small(hostile._tap_vhd_with(
            batmap_size=0xFFFFFFFF)(self.dir))

    def test_largest_tap_vhd_with_every_block_shared(self):
        # 2040 GiB: the most BAT entries a VHD can have, all faulty.
        vhd = bytearray(hostile._tap_vhd_bytes(2040 * 1024 * MiB))
        path = hostile._gzip_file(self.dir, 'all.tgz', hostile.tar_bytes(
            bytes(vhd)))
        rc, out, err, rss = _rss_of(cmd('check', path))
        self.assertEqual(0, rc, out)
        self.assertLess(rss, RSS_LIMIT)


class ChainMemoryTest(_Dir):

    def flatten(self, depth, size):
        layers = vhdchain.sample_chain(depth, size=size, seed=4)
        tarball = vhdchain.write_tarball(self.dir, layers)
        dest = os.path.join(self.dir, 'flat-%d.vhd' % size)
        rc, out, err, rss = _rss_of(cmd('convert', '--max-size', '2040',
                                        tarball, dest))
        self.assertEqual(0, rc, err)
        self.assertEqual(0, _rss_of(cmd('check', dest))[0])
        return rss

    def test_deep_chain_of_a_2_tib_disk(self):
        # Ten layers of the largest VHD, a few partial blocks each: memory
        # is what a small chain costs plus the output's BAT (4 MiB); the
        # layers' BATs cost their used entries, never the disk.
        small = self.flatten(10, 16 * MiB)
        large = self.flatten(10, L.MAX_VHD_SIZE)
        self.assertLess(large - small,
                        2 * L.bat_bytes(L.MAX_BAT_ENTRIES) + 8 * MiB)


class MetadataCostTest(_Dir):
    """Headers that declare much cost what the upload holds (memory).

    CPU is measured by ``python -m tools.metadata_costs``, not here.
    """

    def test_declared_sizes_cost_no_memory(self):
        base = metadata_costs.measure_case(metadata_costs.CASES[0][1],
                                           self.dir)
        for name, build in metadata_costs.CASES[1:]:
            row = metadata_costs.measure_case(build, self.dir)
            for command in ('convert', 'check', 'worker'):
                self.assertNotIn('Traceback', row[command]['error'])
                self.assertLess(
                    row[command]['rss'] - base[command]['rss'],
                    metadata_costs.RSS_TARGET, (name, command, row))
            self.assertEqual(0, row['convert']['exit'], (name, row))


class ProcessHygieneTest(_Dir):

    def _not_regular(self):
        """A FIFO (blocks open), a directory and a device (never ends)."""
        fifo = os.path.join(self.dir, 'pipe.qcow2')
        os.mkfifo(fifo)
        return [fifo, self.dir, '/dev/zero']

    def test_convert_refuses_what_is_not_a_regular_file_at_once(self):
        for path in self._not_regular():
            for fmt in ('auto', 'qcow2', 'raw'):
                rc, out, err, _ = _rss_of(cmd(
                    'convert', '--source-format', fmt, path,
                    os.path.join(self.dir, 'out.tgz')), timeout=10)
                self.assertEqual(1, rc)
                self.assertIn('not a regular file', err)
                self.assertEqual(1, len(err.splitlines()), err)

    def test_check_refuses_what_is_not_a_regular_file_at_once(self):
        for path in self._not_regular():
            for extra in ([], ['--json']):
                rc, out, err, _ = _rss_of(cmd('check', *extra, path),
                                          timeout=10)
                self.assertEqual(3, rc, err)
                self.assertIn('not a regular file', err)

    def _slow_conversion(self, signum):
        src = images.make_random(os.path.join(self.dir, 'r.raw'), 256 * MiB)
        dest = os.path.join(self.dir, 'out.tgz')
        before = self.listing()
        proc = subprocess.Popen(cmd('convert', '--level', '6', src, dest),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        # Wait until the work file exists, then signal.
        deadline = time.monotonic() + 30
        while not [n for n in os.listdir(self.dir) if n.endswith('.part')]:
            self.assertLess(time.monotonic(), deadline)
            self.assertIsNone(proc.poll(), proc.stderr.read() if
                              proc.poll() is not None else '')
            time.sleep(0.02)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        self.assertEqual(128 + signum, proc.returncode, err)
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertEqual(before, self.listing())

    def test_sigterm_leaves_nothing(self):
        self._slow_conversion(signal.SIGTERM)

    def test_sighup_leaves_nothing(self):
        self._slow_conversion(signal.SIGHUP)

    def test_source_named_like_an_option(self):
        raw = images.make_sparse(os.path.join(self.dir, 'a.raw'), 4 * MiB,
                                 [(0, MiB)])
        odd = images.qemu_convert(raw, os.path.join(self.dir, '-x.qcow2'),
                                  'qcow2')
        os.chdir(self.dir)
        self.addCleanup(os.chdir, '/')
        for name in ('-x.qcow2', os.path.basename(odd)):
            rc, out, err, _ = _rss_of(cmd('convert', '--', name, 'o.tgz'))
            self.assertEqual(0, rc, err)
            self.assertEqual(0, _rss_of(cmd('check', 'o.tgz'))[0])
            os.unlink('o.tgz')

    def test_longest_legal_destination_name(self):
        raw = images.make_sparse(os.path.join(self.dir, 'a.raw'), 4 * MiB,
                                 [(0, MiB)])
        limit = os.pathconf(self.dir, 'PC_NAME_MAX')
        dest = os.path.join(self.dir, 'd' * (limit - 4) + '.tgz')
        rc, out, err, _ = _rss_of(cmd('convert', raw, dest))
        self.assertEqual(0, rc, err)
        self.assertTrue(os.path.exists(dest))
