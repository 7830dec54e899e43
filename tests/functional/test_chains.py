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

"""Snapshot tarballs (VHD chains) through ``xenimage-convert`` and the check.

Chains are packed by GNU tar exactly as Nova's dom0 plugin packs them
(``tar -zc --directory=D .``). The flattened output is read back by
qemu-img and compared with what the chain means, computed independently
(tests/vhdchain.py) and, on 4 KiB-grained chains, as libvhdi reads it.
"""

import gzip
import os
import shutil
import tempfile
import uuid

import testtools

from lab import images
from tests.functional import base
from tests import vhdchain
from xenimage_import import archive

MiB = images.MiB


class ChainConvertTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-chain-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def flatten(self, tarball):
        """Convert ``tarball``; return the output's disk, read by qemu."""
        out = os.path.join(self.dir, 'flat-%s.vhd' % uuid.uuid4().hex[:6])
        rc, stdout, stderr = base.cli('convert', tarball, out)
        self.assertEqual(0, rc, stdout + stderr)
        rc, stdout, stderr = base.cli('check', out)
        self.assertEqual(0, rc, stdout + stderr)
        raw = out + '.raw'
        images.run('qemu-img', 'convert', '-f', 'vpc', '-O', 'raw', out, raw)
        with open(raw, 'rb') as f:
            return f.read()

    def test_two_and_five_deep_match_libvhdi(self):
        for depth in (2, 5):
            layers = vhdchain.sample_chain(depth, grain=8, seed=depth)
            paths = vhdchain.write_layers(self.dir, layers)
            oracle = vhdchain.libvhdi_disk(paths)
            self.assertEqual(vhdchain.expected_disk(layers), oracle)
            got = self.flatten(vhdchain.write_tarball(self.dir, layers))
            self.assertEqual(oracle, got, 'depth %d' % depth)

    def test_single_sectors_override_the_parent(self):
        # Partial writes of any sector granularity, five layers deep.
        layers = vhdchain.sample_chain(5, grain=1, seed=11)
        got = self.flatten(vhdchain.write_tarball(self.dir, layers))
        self.assertEqual(vhdchain.expected_disk(layers), got)

    def test_leaf_grown_past_its_parents(self):
        # VDI.resize grows the leaf only: the parents stay smaller.
        layers = vhdchain.sample_chain(3, size=8 * MiB, seed=5)
        grown = layers[0]
        grown.size = 20 * MiB
        grown.blocks[9] = (vhdchain.FULL, b'\x07' * (2 * MiB))
        got = self.flatten(vhdchain.write_tarball(self.dir, layers))
        self.assertEqual(20 * MiB, len(got))
        self.assertEqual(vhdchain.expected_disk(layers), got)

    def test_old_style_names_and_swap_ignored(self):
        layers = vhdchain.sample_chain(3, seed=3)
        swap = vhdchain.Layer(4 * MiB, {0: (vhdchain.FULL,
                                            b'\xee' * (2 * MiB))})
        tarball = vhdchain.write_tarball(
            self.dir, layers, names=['snap.vhd', 'image.vhd', 'base.vhd'],
            extra={'swap.vhd': swap.to_bytes()})
        self.assertEqual(vhdchain.expected_disk(layers),
                         self.flatten(tarball))

    def test_chain_archived_by_other_tools(self):
        # Layers written with holes, archived as users' tools do: bsdtar
        # and tar -S store them as sparse members, tar -cf bare.
        layers = vhdchain.sample_chain(3, seed=4)
        work = tempfile.mkdtemp(dir=self.dir)
        for i, layer in enumerate(layers):
            data = layer.to_bytes()
            with open(os.path.join(work, '%d.vhd' % i), 'wb') as f:
                for at in range(0, len(data), 4096):
                    if any(data[at:at + 4096]):
                        f.seek(at)
                        f.write(data[at:at + 4096])
                f.truncate(len(data))
        for n, tar in enumerate((['bsdtar', '-czf'], ['tar', '-S', '-czf'],
                                 ['tar', '-cf'])):
            tarball = os.path.join(self.dir, 'chain-%d' % n)
            images.run(*tar, tarball, '-C', work, '.')
            self.assertEqual(vhdchain.expected_disk(layers),
                             self.flatten(tarball), tar)

    def test_single_layer_snapshot_from_nova(self):
        # One VHD, packed by Nova with its root entry ./: no chain.
        layers = vhdchain.sample_chain(1, seed=2)
        got = self.flatten(vhdchain.write_tarball(self.dir, layers))
        self.assertEqual(vhdchain.expected_disk(layers), got)

    def test_check_reports_a_one_vhd_snapshot_tarball(self):
        # Nova's tar -zc --directory=D . adds a root entry ./ even for one.
        tarball = vhdchain.write_tarball(self.dir, vhdchain.sample_chain(1))
        rc, stdout, stderr = base.cli('check', tarball)
        self.assertEqual(1, rc)
        self.assertIn('snapshot tarball of one VHD (0.vhd)', stdout)

    def test_check_reports_the_chain(self):
        tarball = vhdchain.write_tarball(self.dir, vhdchain.sample_chain(3))
        rc, stdout, stderr = base.cli('check', tarball)
        self.assertEqual(1, rc)
        self.assertIn('snapshot chain of 3 VHDs (0.vhd, 1.vhd, 2.vhd', stdout)
        self.assertIn('flatten', stdout)


def _chain(depth=3, **kwargs):
    return vhdchain.sample_chain(depth, **kwargs)


def _missing_link(d):
    return vhdchain.write_tarball(d, _chain(3),
                                  names=['0.vhd', '1.vhd', '3.vhd'])


def _uuid_mismatch(d):
    layers = _chain(3)
    layers[1].parent_id = uuid.uuid4().bytes
    return vhdchain.write_tarball(d, layers)


def _loop(d):
    layers = _chain(3)
    layers[1].unique_id = layers[0].unique_id
    layers[0].parent_id = layers[1].unique_id
    return vhdchain.write_tarball(d, layers)


def _too_deep(d):
    return vhdchain.write_tarball(d, _chain(31, size=4 * MiB))


def _parent_larger(d):
    layers = _chain(2, size=8 * MiB)
    layers[1].size = 16 * MiB
    return vhdchain.write_tarball(d, layers)


def _batmap_lies(d):
    layers = _chain(2)
    layers[0].batmap_full = tuple(layers[0].blocks)
    return vhdchain.write_tarball(d, layers)


def _base_bitmap_lies(d):
    layers = _chain(2)
    block = next(iter(layers[1].blocks))
    layers[1].blocks[block] = (vhdchain.bitmap_of(range(100)),
                               b'\x01' * (2 * MiB))
    return vhdchain.write_tarball(d, layers)


def _leaf_hidden(d):
    layers = _chain(2)
    layers[0].hidden = 1
    return vhdchain.write_tarball(d, layers)


def _dynamic_in_the_middle(d):
    layers = _chain(3)
    layers[1].parent_id = None
    return vhdchain.write_tarball(d, layers)


def _parent_missing(d):
    return vhdchain.write_tarball(d, _chain(2)[:1])


def _mixed_names(d):
    return vhdchain.write_tarball(d, _chain(2), names=['0.vhd', 'base.vhd'])


def _only_swap(d):
    return vhdchain.write_tarball(d, [], extra={
        'swap.vhd': _chain(1)[0].to_bytes()})


def _layer_bomb(d):
    # A real 0.vhd, then 1.vhd declaring 100 GiB: refused on its header.
    vhd = _chain(1)[0].to_bytes()
    data = (_named(b'./0.vhd', vhd)
            + _named(b'./1.vhd', b'', 100 * 1024 ** 3) + bytes(4096))
    path = os.path.join(d, 'bomb.tgz')
    with gzip.open(path, 'wb', compresslevel=1) as f:
        f.write(data)
    return path


def _named(name, data, size=None):
    """A tar member ``name`` of ``data`` (its header may claim ``size``)."""
    header = archive.TAR_HEADER.unpack(archive.tar_header(
        len(data) if size is None else size, 0))
    header = header._replace(name=name.ljust(100, b'\0'),
                             checksum=b' ' * 8)
    raw = archive.TAR_HEADER.pack(header)
    total = sum(raw)
    raw = archive.TAR_HEADER.pack(header._replace(
        checksum=b'%06o\0 ' % total))
    return raw + data + bytes(-len(data) % archive.TAR_BLOCK)


HOSTILE = [
    ('missing-link', _missing_link, '2.vhd is missing'),
    ('uuid-mismatch', _uuid_mismatch, 'names parent'),
    ('loop', _loop, 'the chain loops'),
    ('31-deep', _too_deep, 'at most 30'),
    ('parent-larger-than-child', _parent_larger, 'larger than its child'),
    ('batmap-says-full', _batmap_lies, 'marked full in the batmap'),
    ('base-bitmap-hides-data', _base_bitmap_lies, 'marks empty'),
    ('leaf-hidden', _leaf_hidden, 'is hidden'),
    ('dynamic-in-the-middle', _dynamic_in_the_middle,
     'only the base may stand alone'),
    ('parent-missing', _parent_missing, 'parent is not in the tarball'),
    ('mixed-names', _mixed_names, 'mixes numbered and old-style'),
    ('only-swap', _only_swap, 'no disk'),
    ('layer-size-bomb', _layer_bomb, 'beyond the limit'),
]


class ChainRefusedTest(testtools.TestCase):
    """Each forged chain: one line naming the fault, nothing left over."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-chain-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def assert_refused(self, builder, reason):
        source = builder(self.dir)
        out_dir = os.path.join(self.dir, 'out')
        os.mkdir(out_dir)
        rc, stdout, stderr = base.cli('convert', source,
                                      os.path.join(out_dir, 'x.tgz'))
        self.assertEqual(1, rc, stdout + stderr)
        lines = stderr.strip().splitlines()
        self.assertEqual(1, len(lines), stderr)
        self.assertIn(reason, lines[0])
        self.assertEqual([], os.listdir(out_dir))


for _name, _builder, _reason in HOSTILE:
    def _test(self, builder=_builder, reason=_reason):
        self.assert_refused(builder, reason)
    setattr(ChainRefusedTest, 'test_' + _name.replace('-', '_'), _test)
