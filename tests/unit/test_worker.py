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

"""The plugin's conversion worker: a child that runs the pipeline."""

import dataclasses
import json
import os
import subprocess
import sys

import fixtures
from oslo_config import cfg
from oslo_utils import units
import testtools

from lab import images
from tests import hostile
from xenimage_import import conf as xconf
from xenimage_import import exception
from xenimage_import.glance import worker
from xenimage_import import pipeline
from xenimage_import import progress
from xenimage_import.source import inspect

MiB = units.Mi


class _Shown(progress.Progress):

    def __init__(self):
        super().__init__()
        self.shown = []

    def show(self, phase, done, total, rate):
        self.shown.append((phase, done, total))


class WorkerTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.conf_file = os.path.join(self.dir, 'glance-image-import.conf')
        with open(self.conf_file, 'w') as f:
            f.write('[xenimage_import]\nmax_virtual_size = 1\n')
        self.conf = cfg.ConfigOpts()
        xconf.register_opts(self.conf)
        self.conf(args=[], default_config_files=[self.conf_file])
        self.policy = xconf.inspection_policy(self.conf.xenimage_import)

    def job(self, path):
        return worker.Job(path=path,
                          destination=os.path.join(self.dir, 'image-1.tgz'),
                          claimed='qcow2', work_prefix='image-1.abcdef01-')

    def qcow2(self, size=24 * MiB):
        raw = images.make_sparse(os.path.join(self.dir, 'disk.raw'), size,
                                 [(0, 2 * MiB), (9 * MiB, MiB)])
        return images.qemu_convert(raw, os.path.join(self.dir, 'disk.qcow2'),
                                   'qcow2')

    def test_converts_as_the_pipeline_does_in_this_process(self):
        src = self.qcow2()
        shown = _Shown()
        shown.interval = 0
        outcome = worker.convert(self.job(src), self.conf, shown)
        here = pipeline.run(pipeline.Request(
            path=src, destination=os.path.join(self.dir, 'here.tgz'),
            policy=self.policy, claimed='qcow2'))
        self.assertEqual((here.action, here.source_format,
                          here.virtual_size),
                         (outcome.action, outcome.source_format,
                          outcome.virtual_size))
        self.assertEqual(os.path.getsize(outcome.path), outcome.size)
        vhds = [images.extract_member(path, self.useFixture(
            fixtures.TempDir()).path) for path in (here.path, outcome.path)]
        same, message = images.qemu_compare(vhds[0], 'vpc', vhds[1], 'vpc')
        self.assertTrue(same, message)
        # Its progress reached the parent's Progress.
        self.assertTrue(shown.shown)

    def test_converts_when_started_off_the_python_path(self):
        # glance-api under systemd runs from /, where an editable install
        # (devstack's) puts the package on no path entry: the confined
        # worker must still import the helper it loads by name.
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.dir)
        outcome = worker.convert(self.job(self.qcow2()), self.conf)
        self.assertEqual(pipeline.CONVERT, outcome.action)

    def test_takes_the_settings_glance_read(self):
        # max_virtual_size = 1 (GiB) in the file, not in a default.
        src = images.qemu_convert(
            images.make_sparse(os.path.join(self.dir, 'big.raw'), 2 * units.Gi,
                               [(0, MiB)]),
            os.path.join(self.dir, 'big.qcow2'), 'qcow2')
        e = self.assertRaises(exception.XenImageError, worker.convert,
                              self.job(src), self.conf)
        self.assertIn('above the configured limit', str(e))

    def test_an_override_reaches_the_worker(self):
        # Set in the parent only, in no file: the worker has it all the
        # same, as the settings come from the parent's configuration.
        job = self.job(self.qcow2())
        self.assertIsNotNone(worker.convert(job, self.conf).guest)
        self.conf.set_override('inspect_guest', False, 'xenimage_import')
        self.assertIsNone(worker.convert(job, self.conf).guest)

    def test_a_local_conversion_never_imports_oslo_config(self):
        # oslo.config (on Glance 20 with pkg_resources behind it) is a
        # tenth of a second of every conversion's start-up.
        message = dict(dataclasses.asdict(self.job(self.qcow2())),
                       parent=os.getpid(),
                       settings=worker._settings_message(
                           xconf.request_settings(self.conf)))
        code = ('import sys\n'
                'from xenimage_import.glance import worker\n'
                'rc = worker.main([])\n'
                'print(rc, "oslo_config.cfg" in sys.modules)\n')
        lines = subprocess.run(
            [sys.executable, '-c', code], input=json.dumps(message),
            stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()
        self.assertIn('outcome', json.loads(lines[-2]))
        self.assertEqual('0 False', lines[-1])

    def test_a_refusal_is_one_line_and_leaves_no_work_file(self):
        src = hostile.build('qcow2-backing-absolute', self.dir)
        before = sorted(os.listdir(self.dir))
        e = self.assertRaises(exception.XenImageError, worker.convert,
                              self.job(src), self.conf)
        self.assertIn('backing file', str(e))
        self.assertEqual(1, len(str(e).splitlines()))
        self.assertEqual(before, sorted(os.listdir(self.dir)))

    def test_its_deadline_grows_with_what_the_upload_can_hold(self):
        small = self.job(images.make_sparse(
            os.path.join(self.dir, 'small.raw'), 4 * MiB, [(0, MiB)]))
        large = self.job(images.make_sparse(
            os.path.join(self.dir, 'large.raw'), 64 * MiB, [(0, MiB)]))
        policy = inspect.Policy()
        self.assertLess(worker.limits(small, policy).wall_time,
                        worker.limits(large, policy).wall_time)
        # ... never past what max_virtual_size allows.
        capped = inspect.Policy(max_virtual_size=MiB)
        self.assertEqual(worker.START_SECONDS,
                         worker.limits(large, capped).wall_time)
