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

"""xenimage-convert and xenimage-check on real images, with real qemu-img.

Sources are built from local files (``mkfs.ext4 -d``), sparse files with
scattered data and random data, then converted by qemu-img into qcow2 and
qemu's own VHD. Each output is read back by ``qemu-img compare``, Python's
``tarfile`` in ``r|gz`` mode, GNU tar, and the project's checker.
"""

import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import testtools

from lab import images
from tests.functional.base import cli

MiB = images.MiB


class SourceImages(object):
    """The real-content sources, built once per test class."""

    def __init__(self, directory):
        d = directory
        self.ext4 = images.make_ext4(os.path.join(d, 'ext4.raw'), 64 * MiB,
                                     20 * MiB, trees=('/usr/lib/python3',
                                                      '/usr/share/doc',
                                                      '/usr/bin'))
        self.sparse = images.make_sparse(
            os.path.join(d, 'sparse.raw'), 300 * MiB + 512,
            images.scattered_regions(300 * MiB, 6, 3 * MiB + 4096))
        self.random = images.make_random(os.path.join(d, 'random.raw'),
                                         24 * MiB)
        self.raw = {'ext4': self.ext4, 'sparse': self.sparse,
                    'random': self.random}


class ConvertTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sources_dir = tempfile.mkdtemp(prefix='xenimage-src-')
        cls.sources = SourceImages(cls.sources_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.sources_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-out-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def source(self, name, fmt):
        raw = self.sources.raw[name]
        if fmt == 'raw':
            return raw
        qemu_fmt = {'vhd': 'vpc'}.get(fmt, fmt)
        path = os.path.join(self.dir, '%s.%s' % (name, fmt))
        return images.qemu_convert(raw, path, qemu_fmt)

    def convert_and_verify(self, name, fmt):
        src = self.source(name, fmt)
        out = os.path.join(self.dir, 'out.tgz')
        rc, stdout, stderr = cli('convert', '--json', '--source-format', fmt,
                                 src, out)
        self.assertEqual(0, rc, stderr)
        result = json.loads(stdout)
        self.assertEqual(fmt, result['source_format'])

        rc, stdout, stderr = cli('check', out)
        self.assertEqual(0, rc, stdout + stderr)

        with tarfile.open(out, mode='r|gz') as archive:
            members = [(m.name, m.isreg(), m.mode, m.uid, m.gid, m.size)
                       for m in archive]
        self.assertEqual([('0.vhd', True, 0o644, 0, 0, result['vhd_size'])],
                         members)
        listing = subprocess.run(['tar', '-tzf', out], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
        self.assertEqual('0.vhd\n', listing)

        vhd = images.extract_member(out, self.dir)
        same, message = images.qemu_compare(vhd, 'vpc',
                                            self.sources.raw[name], 'raw')
        self.assertTrue(same, message)
        # Only temporary-free output is left behind.
        self.assertEqual(sorted(['out.tgz', '0.vhd'] +
                                ([] if fmt == 'raw' else [
                                    os.path.basename(src)])),
                         sorted(os.listdir(self.dir)))
        return result

    def test_ext4_raw(self):
        result = self.convert_and_verify('ext4', 'raw')
        self.assertLess(result['blocks_stored'], result['blocks_total'])

    def test_ext4_qcow2(self):
        self.convert_and_verify('ext4', 'qcow2')

    def test_ext4_qemu_vhd(self):
        self.convert_and_verify('ext4', 'vhd')

    def test_sparse_raw_stores_only_data_blocks(self):
        result = self.convert_and_verify('sparse', 'raw')
        # 6 regions of 3 MiB + 4 KiB touch 2 or 3 blocks each.
        self.assertLessEqual(result['blocks_stored'], 18)
        self.assertGreaterEqual(result['blocks_stored'], 12)
        self.assertEqual(151, result['blocks_total'])
        self.assertEqual(151 * 2 * MiB - (300 * MiB + 512),
                         result['rounded_up'])

    def test_sparse_qcow2(self):
        self.convert_and_verify('sparse', 'qcow2')

    def test_random_raw(self):
        result = self.convert_and_verify('random', 'raw')
        self.assertEqual(12, result['blocks_stored'])

    def test_random_qemu_vhd(self):
        self.convert_and_verify('random', 'vhd')

    def test_bare_vhd_output_is_valid_and_identical(self):
        out = os.path.join(self.dir, 'disk.vhd')
        rc, _, stderr = cli('convert', self.sources.ext4, out)
        self.assertEqual(0, rc, stderr)
        rc, stdout, _ = cli('check', '--json', out)
        self.assertEqual(0, rc)
        self.assertEqual('tap', json.loads(stdout)['vhd']['creator'])
        same, message = images.qemu_compare(out, 'vpc', self.sources.ext4,
                                            'raw')
        self.assertTrue(same, message)

    def test_tap_vhd_source_is_repacked(self):
        tap = os.path.join(self.dir, 'tap.vhd')
        self.assertEqual(0, cli('convert', self.sources.sparse, tap)[0])
        out = os.path.join(self.dir, 'again.tgz')
        rc, _, stderr = cli('convert', '--source-format', 'vhd', tap, out)
        self.assertEqual(0, rc, stderr)
        self.assertEqual(0, cli('check', out)[0])

    def test_smallest_level_is_valid_and_smaller(self):
        fast = os.path.join(self.dir, 'fast.tgz')
        small = os.path.join(self.dir, 'small.tgz')
        self.assertEqual(0, cli('convert', '--level', '1',
                                self.sources.ext4, fast)[0])
        self.assertEqual(0, cli('convert', '--level', '6',
                                self.sources.ext4, small)[0])
        self.assertEqual(0, cli('check', small)[0])
        self.assertLess(os.path.getsize(small), os.path.getsize(fast))


class CheckRefusesQemuVhdTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-chk-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.raw = images.make_sparse(os.path.join(self.dir, 'a.raw'),
                                      100 * MiB, [(0, MiB)])

    def test_qemu_creator_refused(self):
        vhd = images.qemu_convert(self.raw, os.path.join(self.dir, 'q.vhd'),
                                  'vpc')
        rc, stdout, _ = cli('check', vhd)
        self.assertEqual(1, rc)
        self.assertIn("footer.creator: created by 'qemu'", stdout)

    def test_qem2_force_size_refused(self):
        vhd = images.qemu_convert(self.raw, os.path.join(self.dir, 'q2.vhd'),
                                  'vpc', options='force_size=on')
        rc, stdout, _ = cli('check', vhd)
        self.assertEqual(1, rc)
        self.assertIn("created by 'qem2'", stdout)
        self.assertIn('footer.geometry: geometry too large', stdout)

    def test_tarball_of_qemu_vhd_refused(self):
        images.qemu_convert(self.raw, os.path.join(self.dir, '0.vhd'), 'vpc')
        tgz = os.path.join(self.dir, 'q.tgz')
        subprocess.run(['tar', '-czf', tgz, '-C', self.dir, '0.vhd'],
                       check=True)
        rc, stdout, _ = cli('check', tgz)
        self.assertEqual(1, rc)
        self.assertIn('footer.creator', stdout)

    def test_unreadable_exit_code(self):
        bad = os.path.join(self.dir, 'bad.tgz')
        with open(bad, 'wb') as f:
            f.write(b'\x1f\x8b\x08\x00' + b'garbage' * 10)
        rc, _, stderr = cli('check', bad)
        self.assertEqual(3, rc)
        self.assertIn('unreadable', stderr)
        self.assertEqual(3, cli('check', os.path.join(self.dir, 'nope'))[0])


class CommandLineTest(testtools.TestCase):
    """What every command promises on its command line."""

    def test_every_command_has_version(self):
        for name, prog in (('convert', 'xenimage-convert'),
                           ('check', 'xenimage-check'),
                           ('dom0_plugin', 'xenimage-dom0-plugin')):
            rc, out, err = cli(name, '--version')
            self.assertEqual(0, rc, err)
            self.assertRegex(out, r'^%s \d+\.\d+' % prog)

    def test_numeric_options_are_validated(self):
        for args, fragment in ((('--threads', '-1'), '-1 is below 0'),
                               (('--max-size', '0'), '0 is below 1'),
                               (('--threads', 'two'), 'not a whole number'),
                               (('--level', '9'), 'invalid choice')):
            rc, out, err = cli('convert', *args, 'a.raw', 'b.tgz')
            self.assertEqual(2, rc)
            self.assertIn(fragment, err)

    def test_json_failure_is_a_json_object(self):
        d = tempfile.mkdtemp(prefix='xenimage-json-')
        self.addCleanup(shutil.rmtree, d, True)
        rc, out, err = cli('convert', '--json', os.path.join(d, 'nope'),
                           os.path.join(d, 'out.tgz'))
        self.assertEqual(1, rc)
        error = json.loads(out)
        self.assertEqual(1, error['exit_code'])
        self.assertIn('No such file', error['error'])

    def test_check_names_what_a_non_vhd_is(self):
        d = tempfile.mkdtemp(prefix='xenimage-what-')
        self.addCleanup(shutil.rmtree, d, True)
        raw = images.make_sparse(os.path.join(d, 'a.raw'), 4 * MiB,
                                 [(0, MiB)])
        qcow2 = images.qemu_convert(raw, os.path.join(d, 'a.qcow2'), 'qcow2')
        rc, out, _ = cli('check', qcow2)
        self.assertEqual(1, rc)
        self.assertIn('this is a qcow2 image', out)
        rc, out, _ = cli('check', '--json', qcow2)
        self.assertEqual('qcow2', json.loads(out)['detected'])

    def test_a_reader_leaving_early_ends_the_command_quietly(self):
        # cmd | head: the pipe is closed when the command prints. The
        # output is placed all the same; no traceback, SIGPIPE's code.
        d = tempfile.mkdtemp(prefix='xenimage-pipe-')
        self.addCleanup(shutil.rmtree, d, True)
        raw = images.make_sparse(os.path.join(d, 'a.raw'), 4 * MiB,
                                 [(0, MiB)])
        out = os.path.join(d, 'a.tgz')
        for argv in (('convert', raw, out), ('check', raw)):
            proc = subprocess.Popen(
                [sys.executable, '-m', 'xenimage_import.cmd.%s' % argv[0]]
                + list(argv[1:]), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            proc.stdout.close()
            err = proc.stderr.read()
            proc.stderr.close()
            self.assertEqual((141, b''), (proc.wait(), err), argv[0])
        self.assertEqual(0, cli('check', out)[0])

    def test_check_names_a_compressed_file(self):
        # tar -cJf: neither a VHD nor a tarball this project reads.
        d = tempfile.mkdtemp(prefix='xenimage-xz-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'image.tar.xz')
        with open(path, 'wb') as f:
            f.write(lzma.compress(bytes(64 * 1024)))
        rc, out, _ = cli('check', path)
        self.assertEqual(1, rc)
        self.assertIn('this is an xz-compressed file', out.splitlines()[0])
        self.assertIn('tar -czf', out.splitlines()[0])
        rc, out, _ = cli('check', '--json', path)
        self.assertEqual('xz', json.loads(out)['detected'])

    def test_check_exit_codes(self):
        self.assertEqual(2, cli('check')[0])                 # usage
        self.assertEqual(3, cli('check', '/nonexistent')[0])  # unreadable
