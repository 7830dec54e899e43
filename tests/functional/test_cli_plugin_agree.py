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

"""xenimage-convert and the Glance plugin give the same verdict.

Both are adapters over the one pipeline; this holds them to it on the
whole hostile corpus and on the uploads that take each path (convert,
flatten, pack, pass through), under one configuration file that moves
every policy option away from its default. The CLI reads the file with
``--config-file``; the plugin's options are set from the same file, and
its tasks run in-process over Glance's own action wrapper. A verdict is
the refusal's message (paths scrubbed, as users see it), or the action
taken and the virtual size read back from the output.
"""

import json
import os
import shutil
import sys
import tempfile

from glance.common import exception as glance_exception
from oslo_config import fixture as cfg_fixture
import testtools

from lab import images
from tests.fixtures import glance_wrapper
from tests.functional import base
from tests import hostile
from tests import vhdchain
from xenimage_import import exception
from xenimage_import.glance import plugin

MiB = images.MiB
CONF_TEXT = """\
[xenimage_import]
allowed_source_formats = raw,qcow2,vhd,vmdk,vhdx
max_virtual_size = 1
max_expansion_ratio = 100
vmdk_allowed_types = streamOptimized
allow_iso = true
compression_level = 3
"""


def _qcow2(d):
    return images.qemu_convert(hostile._raw(d), os.path.join(d, 'a.qcow2'),
                               'qcow2')


def _tap_tarball(d):
    vhd = images.tap_vhd(hostile._raw(d), os.path.join(d, 'tap.vhd'))
    out = os.path.join(d, 'tap.tgz')
    rc, _, err = base.cli('convert', vhd, out)
    assert rc == 0, err
    return out


def _tap_vhd(d):
    return images.tap_vhd(hostile._raw(d), os.path.join(d, 'tap.vhd'))


def _chain(d):
    return vhdchain.write_tarball(d, vhdchain.sample_chain(2))


def _sparse_member(d):
    """qemu-img's VHD (it has holes) as bsdtar stores it: pax sparse 1.0."""
    work = os.path.join(d, 'bsdtar')
    os.mkdir(work)
    images.qemu_convert(hostile._raw(d), os.path.join(work, '0.vhd'), 'vpc')
    out = os.path.join(d, 'sparse.tgz')
    images.run('bsdtar', '-czf', out, '-C', work, '0.vhd')
    return out


def _bare_tar(d):
    """A tap 0.vhd in a tarball that is not gzipped (tar -cf)."""
    work = os.path.join(d, 'tar')
    os.mkdir(work)
    images.tap_vhd(hostile._raw(d), os.path.join(work, '0.vhd'))
    out = os.path.join(d, 'bare.tar')
    images.run('tar', '-cf', out, '-C', work, '0.vhd')
    return out


def _too_large(d):
    return hostile._raw(d, size=2048 * MiB)


def _vdi(d):
    return images.qemu_convert(hostile._raw(d), os.path.join(d, 'a.vdi'),
                               'vdi')


def _monolithic_sparse(d):
    return images.qemu_convert(hostile._raw(d), os.path.join(d, 'a.vmdk'),
                               'vmdk')


def _stream_optimized(d):
    return images.qemu_convert(hostile._raw(d), os.path.join(d, 's.vmdk'),
                               'vmdk', options='subformat=streamOptimized')


# (name, claimed format, builder): one per path and per option changed.
UPLOADS = [
    ('qcow2-converts', 'qcow2', _qcow2),
    ('tap-tarball-passes-through', 'vhd', _tap_tarball),
    ('tap-vhd-is-packed', 'vhd', _tap_vhd),
    ('chain-is-flattened', 'vhd', _chain),
    ('sparse-member-is-re-packed', 'vhd', _sparse_member),
    ('bare-tarball-is-re-packed', 'vhd', _bare_tar),
    ('above-max-virtual-size', 'raw', _too_large),
    ('vdi-not-allowed', 'vdi', _vdi),
    ('vmdk-type-not-allowed', 'vmdk', _monolithic_sparse),
    ('vmdk-type-allowed', 'vmdk', _stream_optimized),
    ('iso-allowed', 'raw', hostile._iso),
]


class VerdictsAgreeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-agree-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.conf_file = os.path.join(self.dir, 'glance-image-import.conf')
        with open(self.conf_file, 'w') as f:
            f.write(CONF_TEXT)
        # Glance's configuration read from the file, as glance-api reads
        # it: the plugin's worker is given the same file.
        fixture = self.useFixture(cfg_fixture.Config(plugin.CONF))
        plugin.CONF(args=[], default_config_files=[self.conf_file])
        fixture.config(python_interpreter=sys.executable, group='wsgi')
        fixture.config(lock_path=os.path.join(self.dir, 'locks'),
                       group='oslo_concurrency')

    def cli_verdict(self, path, claimed):
        out_dir = tempfile.mkdtemp(dir=self.dir)
        rc, out, err = base.cli('convert', '--json', '--config-file',
                                self.conf_file, '--source-format', claimed,
                                path, os.path.join(out_dir, 'out.tgz'))
        result = json.loads(out)
        if rc:
            return 'refused', exception.scrub_paths(result['error'])
        return 'accepted', result['action'], result['virtual_size']

    def plugin_verdict(self, path, claimed):
        staging = tempfile.mkdtemp(dir=self.dir)
        staged = os.path.join(staging, glance_wrapper.IMAGE)
        shutil.copyfile(path, staged)
        wrapper, _image, _repo = glance_wrapper.wrapper(disk_format=claimed)
        accept = plugin._AcceptUpload(glance_wrapper.TASK, 'import',
                                      wrapper, ['file1'])
        convert = plugin._ConvertToTapVhd(glance_wrapper.TASK, 'import',
                                          glance_wrapper.IMAGE)
        try:
            job, uri = accept.execute('file://' + staged)
            _uri, outcome = convert.execute(uri, job)
        except glance_exception.UploadException as e:
            return 'refused', str(e)[len('xenimage_import: '):]
        return 'accepted', outcome.action, outcome.virtual_size

    def assert_agree(self, name, claimed, builder, *expected):
        source = builder(tempfile.mkdtemp(dir=self.dir))
        cli = self.cli_verdict(source, claimed)
        self.assertEqual(cli, self.plugin_verdict(source, claimed), name)
        return cli


def _add_tests():
    for name, claimed, builder in UPLOADS:
        def test(self, name=name, claimed=claimed, builder=builder):
            self.assert_agree(name, claimed, builder)
        setattr(VerdictsAgreeTest, 'test_%s' % name.replace('-', '_'), test)


_add_tests()
hostile.add_case_tests(VerdictsAgreeTest, 'assert_agree',
                       prefix='test_hostile_')
