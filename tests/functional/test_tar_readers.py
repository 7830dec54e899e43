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

"""Every tarball the checker accepts extracts to the same 0.vhd everywhere.

The readers are the real ones: GNU tar (what Nova's dom0 plugin runs),
busybox tar, bsdtar and the project's own reader. Archives made by the
project's writer, by GNU tar, bsdtar and Python's tarfile in each of
their formats (pax headers included) must be accepted and agree; the
forged ones must be refused, and for the damaged-header case GNU tar is
shown to extract a different disk than the first member.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import testtools

from lab import images
from tests.functional import base
from tests import hostile
from tests import sparsetar
from tests import vhdchain
from xenimage_import import exception
from xenimage_import.source import tarball

MiB = images.MiB


READERS = {'gnu': ['tar'], 'busybox': ['busybox', 'tar'],
           'bsdtar': ['bsdtar']}
# Every format each writer offers, as its users would ask for it.
WRITERS = {
    'gnu-default': ['tar', '-czf', '{out}', '0.vhd'],
    'gnu-gnu': ['tar', '-czf', '{out}', '--format=gnu', '0.vhd'],
    'gnu-ustar': ['tar', '-czf', '{out}', '--format=ustar', '0.vhd'],
    'gnu-posix': ['tar', '-czf', '{out}', '--format=posix', '0.vhd'],
    'gnu-posix-xattrs': ['tar', '-czf', '{out}', '--format=posix',
                         '--xattrs', '0.vhd'],
    # Without --no-read-sparse bsdtar stores a file with holes as a
    # sparse member (SPARSE_WRITERS).
    'bsdtar-default': ['bsdtar', '-czf', '{out}', '--no-read-sparse',
                       '0.vhd'],
    'bsdtar-pax': ['bsdtar', '-czf', '{out}', '--format', 'pax',
                   '--no-read-sparse', '0.vhd'],
    'bsdtar-ustar': ['bsdtar', '-czf', '{out}', '--format', 'ustar',
                     '0.vhd'],
    'bsdtar-gnutar': ['bsdtar', '-czf', '{out}', '--format', 'gnutar',
                      '0.vhd'],
}
# What each tool makes of a file with holes: a GNU sparse member.
SPARSE_WRITERS = {
    'gnu-sparse': ['tar', '-S', '-czf', '{out}', '0.vhd'],
    'gnu-posix-sparse': ['tar', '-S', '--format=posix', '-czf', '{out}',
                         '0.vhd'],
    'gnu-posix-sparse-0.1': ['tar', '-S', '--format=posix',
                             '--sparse-version=0.1', '-czf', '{out}',
                             '0.vhd'],
    'bsdtar-default': ['bsdtar', '-czf', '{out}', '0.vhd'],
    'bsdtar-pax': ['bsdtar', '-czf', '{out}', '--format', 'pax', '0.vhd'],
}
_TARFILE = ('import sys, tarfile\n'
            'with tarfile.open(sys.argv[1], "w:gz", format=getattr(\n'
            '        tarfile, sys.argv[2])) as t:\n'
            '    t.add("0.vhd")\n')
for _fmt in ('PAX_FORMAT', 'GNU_FORMAT', 'USTAR_FORMAT'):
    WRITERS['tarfile-' + _fmt] = [sys.executable, '-c', _TARFILE, '{out}',
                                  _fmt]


class TarReadersAgreeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-tar-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        for tool in ('busybox', 'bsdtar'):
            if not shutil.which(tool):
                self.fail('%s is missing (bindep.txt, profile functional)'
                          % tool)

    def _tap_vhd(self):
        work = os.path.join(self.dir, 'src')
        os.mkdir(work)
        return hostile._sparse_vhd_file(work)

    def assert_all_agree(self, path):
        rc, out, err = base.cli('check', path)
        self.assertEqual(0, rc, out + err)
        ours = images.archive_member_sha256(path)
        for name, command in READERS.items():
            rc, seen = images.tar_extract(command, path,
                                          os.path.join(self.dir, name))
            self.assertEqual((0, {'0.vhd': ours}), (rc, seen), name)

    def test_snapshot_chain_members(self):
        # Every member our chain reader extracts is what GNU tar and
        # busybox tar extract under that name, and nothing more.
        layers = vhdchain.sample_chain(3, seed=9)
        path = vhdchain.write_tarball(
            self.dir, layers, extra={'swap.vhd': layers[0].to_bytes()})
        ours = self.extract_ours(path)
        for name, command in READERS.items():
            rc, seen = images.tar_extract(command, path,
                                          os.path.join(self.dir, name))
            self.assertEqual(0, rc, name)
            del seen['swap.vhd']        # read past by us, never written
            self.assertEqual(ours, seen, name)

    def test_project_writer_output(self):
        raw = images.make_sparse(os.path.join(self.dir, 'a.raw'), 20 * MiB,
                                 [(0, MiB), (9 * MiB, 3 * MiB)])
        out = os.path.join(self.dir, 'a.tgz')
        self.assertEqual(0, base.cli('convert', raw, out)[0])
        self.assert_all_agree(out)

    def test_gnu_tar_formats(self):
        vhd = self._tap_vhd()
        for options in ([], ['--format=gnu'], ['--format=ustar'],
                        ['--format=v7'], ['-b', '1']):
            out = os.path.join(self.dir, 'gnu%d.tgz' % len(os.listdir(
                self.dir)))
            images.run('tar', '-czf', out, *options, '-C',
                       os.path.dirname(vhd), '0.vhd')
            if options == ['--format=v7']:
                # No ustar magic: older readers guess at its fields.
                self.assertEqual(1, base.cli('check', out)[0])
                continue
            self.assert_all_agree(out)

    def test_what_real_writers_make(self):
        # pax mtime/atime/ctime records and xattrs included: each archive
        # is accepted, and every reader extracts the same 0.vhd.
        vhd = self._tap_vhd()
        os.setxattr(vhd, 'user.origin', b'test')
        for name, argv in sorted(WRITERS.items()):
            out = os.path.join(self.dir, name + '.tgz')
            subprocess.run([a.format(out=out) for a in argv], check=True,
                           cwd=os.path.dirname(vhd),
                           stdout=subprocess.DEVNULL)
            self.assert_all_agree(out)

    def extract_ours(self, path):
        """{name: sha256} of what the converter unpacks from ``path``."""
        work = tempfile.mkdtemp(dir=self.dir)
        found = tarball.extract_chain(path, work, 'x.', 1 << 40, 1 << 40)
        ours = {}
        for name, file in found.items():
            with open(file, 'rb') as f:
                ours[name] = hashlib.sha256(f.read()).hexdigest()
        return ours

    def assert_expanded_alike(self, path, readers=('gnu', 'bsdtar'),
                              gzipped=True):
        ours = self.extract_ours(path)
        for name in readers:
            rc, seen = images.tar_extract(READERS[name], path,
                                          os.path.join(self.dir, name),
                                          gzipped)
            self.assertEqual((0, ours), (rc, seen), name)
        return ours

    def test_sparse_members_real_tools_make(self):
        # Each tool's sparse member is expanded as GNU tar and bsdtar
        # extract it, and the converter re-packs it as a plain tarball.
        vhd = self._tap_vhd()
        with open(vhd, 'rb') as f:
            want = {'0.vhd': hashlib.sha256(f.read()).hexdigest()}
        for name, argv in sorted(SPARSE_WRITERS.items()):
            out = os.path.join(self.dir, name + '.tgz')
            subprocess.run([a.format(out=out) for a in argv], check=True,
                           cwd=os.path.dirname(vhd))
            self.assertEqual(want, self.assert_expanded_alike(out), name)
            packed = os.path.join(self.dir, name + '-packed.tgz')
            self.assertEqual(0, base.cli('convert', out, packed)[0], name)
            self.assert_all_agree(packed)

    def test_bare_tarballs_are_re_packed(self):
        # tar -cf, without gzip: read alike, and re-packed gzipped, since
        # Nova's dom0 plugin runs tar -zx.
        vhd = self._tap_vhd()
        for name, argv in (('gnu', ['tar', '-cf']),
                           ('gnu-sparse', ['tar', '-S', '-cf']),
                           ('bsdtar', ['bsdtar', '-cf'])):
            out = os.path.join(self.dir, name + '.tar')
            subprocess.run(argv + [out, '0.vhd'], check=True,
                           cwd=os.path.dirname(vhd))
            self.assert_expanded_alike(out, gzipped=False)
            rc, stdout, _ = base.cli('check', out)
            self.assertEqual(1, rc, name)
            self.assertIn('not gzipped', stdout, name)
            packed = os.path.join(self.dir, name + '-packed.tgz')
            self.assertEqual(0, base.cli('convert', out, packed)[0], name)
            self.assert_all_agree(packed)

    def test_crafted_sparse_maps_gnu_tar_expands_alike(self):
        # Leading and trailing holes, an unaligned offset, a last extent
        # of part of a block, extension blocks: GNU tar agrees.
        b = sparsetar.BLOCK
        maps = [([(4 * b, 3 * b), (20 * b + 1, 2 * b), (64 * b, 700)],
                 64 * b + 700),
                ([(0, b), (9 * b, 100), (80 * b, 0)], 80 * b),
                ([(i * 4 * b, b) for i in range(30)] + [(120 * b, 0)],
                 120 * b)]
        for build in (sparsetar.oldgnu, sparsetar.pax_0_1,
                      sparsetar.pax_1_0):
            for extents, realsize in maps:
                path = hostile._gzip_file(self.dir, 'crafted.tgz',
                                          build(extents, realsize))
                want = hashlib.sha256(sparsetar.expanded(
                    extents, realsize)).hexdigest()
                self.assertEqual({'0.vhd': want},
                                 self.assert_expanded_alike(path, ['gnu']))

    def test_refused_maps_are_ones_gnu_tar_and_tarfile_differ_on(self):
        # Part of a block before the last extent; a trailing hole with no
        # end marker. Each is refused, and the two readers disagree.
        b = sparsetar.BLOCK
        for extents, realsize in (([(0, 700), (4 * b, b)], 5 * b),
                                  ([(0, b)], 4 * b)):
            path = hostile._gzip_file(self.dir, 'odd.tgz', sparsetar.oldgnu(
                extents, realsize))
            _, gnu = images.tar_extract(READERS['gnu'], path,
                                        os.path.join(self.dir, 'gnu'))
            with tarfile.open(path) as t:
                by_tarfile = hashlib.sha256(
                    t.extractfile('0.vhd').read()).hexdigest()
            self.assertNotEqual({'0.vhd': by_tarfile}, gnu)
            self.assertRaises(exception.UnsafeImage, self.extract_ours, path)

    def test_sparse_member_is_never_stored_as_it_is(self):
        # busybox tar writes the member out unexpanded, under its
        # stand-in name: stored as it is, it would be another disk.
        vhd = self._tap_vhd()
        out = os.path.join(self.dir, 'sparse.tgz')
        subprocess.run(['bsdtar', '-czf', out, '0.vhd'], check=True,
                       cwd=os.path.dirname(vhd))
        _, seen = images.tar_extract(READERS['busybox'], out,
                                     os.path.join(self.dir, 'busybox'))
        self.assertNotIn('0.vhd', seen)
        rc, stdout, _ = base.cli('check', out)
        self.assertEqual(1, rc)
        self.assertIn('stored as a GNU sparse member', stdout)
        rc, stdout, _ = base.cli('convert', '--json', out,
                                 os.path.join(self.dir, 'out.tgz'))
        self.assertEqual((0, 'convert'), (rc, json.loads(stdout)['action']))

    def test_dot_slash_member(self):
        vhd = self._tap_vhd()
        out = os.path.join(self.dir, 'dot.tgz')
        images.run('tar', '-czf', out, '-C', os.path.dirname(vhd), './0.vhd')
        self.assert_all_agree(out)

    def test_base256_size(self):
        # GNU tar writes sizes of 8 GiB and more this way; every reader
        # must take it for any size.
        vhd = hostile._tap_vhd_bytes()
        field = bytes([0x80]) + len(vhd).to_bytes(11, 'big')
        self.assert_all_agree(hostile._gzip_file(
            self.dir, 'b256.tgz', hostile.tar_bytes(vhd, size=field)))

    def test_damaged_header_means_another_disk_to_gnu_tar(self):
        path = hostile._damaged_header_hides_second(self.dir)
        # GNU tar says "Skipping to next header" (exit 2) but extracts
        # the second member all the same.
        _, seen = images.tar_extract(['tar'], path,
                                     os.path.join(self.dir, 'gnu'))
        first = hashlib.sha256(hostile._tap_vhd_bytes()).hexdigest()
        self.assertNotEqual({'0.vhd': first}, seen)
        rc, out, _ = base.cli('check', path)
        self.assertEqual(1, rc)
        self.assertIn('data after 0.vhd', out)
