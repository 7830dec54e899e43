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

"""Start-up: what a fresh interpreter of ours loads, and what it defers."""

import importlib
import os
import subprocess
import sys
import threading
import types

import fixtures
import testtools

from xenimage_import import startup


def fresh(code, *args):
    """Run ``code`` in a fresh interpreter; return its last line."""
    out = subprocess.run([sys.executable, '-c', code] + list(args),
                         stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    return out.strip().splitlines()[-1]


class FreshInterpreterTest(testtools.TestCase):
    """What a command or the plugin's worker loads before it converts."""

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def after_conversion(self, expression):
        """``rc expression`` after a local conversion in a fresh process."""
        raw = os.path.join(self.dir, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(4 * 1024 ** 2)
        out = os.path.join(self.dir, 'out.tgz')
        code = ('import sys\n'
                'from xenimage_import.cmd import convert\n'
                'rc = convert.main(["--json", sys.argv[1], sys.argv[2]])\n'
                'print(rc, %s)\n' % expression)
        line = fresh(code, raw, out)
        self.assertTrue(os.path.exists(out))
        return line

    def test_a_request_without_files_never_imports_oslo_config(self):
        self.assertEqual('False', fresh(
            'import sys\n'
            'from xenimage_import.cmd import convert\n'
            'convert._request(convert._parser().parse_args('
            '["a.qcow2", "b.tgz"]), None)\n'
            'print("oslo_config.cfg" in sys.modules)\n'))

    def test_a_local_conversion_never_scans_entry_points(self):
        # stevedore and importlib.metadata are a quarter of start-up: the
        # built-in helper and the version are found without them.
        self.assertEqual('0 []', self.after_conversion(
            '[m for m in ("stevedore", "importlib.metadata") '
            'if m in sys.modules]'))

    def test_a_local_conversion_never_runs_strutils(self):
        # A third of start-up: the 400 regexes oslo_utils.strutils
        # compiles as it loads, for a QemuImgInfo a conversion never uses.
        self.assertEqual('0 False', self.after_conversion(
            '"mask_password" in vars(sys.modules["oslo_utils.strutils"])'))

    def test_no_entry_point_runs_strutils_on_import(self):
        for module in ('xenimage_import.cmd.convert',
                       'xenimage_import.cmd.check',
                       'xenimage_import.glance.worker'):
            self.assertEqual('False', fresh(
                'import sys, %s\n'
                'strutils = sys.modules["oslo_utils.strutils"]\n'
                'print("mask_password" in vars(strutils))\n' % module),
                module)

    def test_strutils_deferred_still_answers(self):
        self.assertEqual('password=***', fresh(
            'import xenimage_import\n'
            'from oslo_utils import strutils\n'
            'print(strutils.mask_password("password=s3cret"))\n'))


class DeferredModuleTest(testtools.TestCase):
    """A deferred module is the module, run on the first read it needs."""

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MonkeyPatch('sys.path',
                                             [self.dir] + sys.path))
        self.name = 'probe_%s' % self._testMethodName
        self.addCleanup(sys.modules.pop, self.name, None)
        self.gate = types.ModuleType(self.name + '_gate')
        self.gate.started = threading.Event()
        self.gate.proceed = threading.Event()
        self.gate.proceed.set()
        sys.modules[self.gate.__name__] = self.gate
        self.addCleanup(sys.modules.pop, self.gate.__name__)
        with open(os.path.join(self.dir, self.name + '.py'), 'w') as f:
            f.write('import %s as gate\n'
                    'first = 1\n'
                    'gate.started.set()\n'
                    'gate.proceed.wait(10)\n'
                    'second = 2\n' % self.gate.__name__)
        importlib.invalidate_caches()

    def test_its_code_runs_on_the_first_read_of_a_name(self):
        startup.defer(self.name)
        module = sys.modules[self.name]
        self.assertFalse(self.gate.started.is_set())
        self.assertNotIn('first', vars(module))
        self.assertEqual(2, module.second)
        self.assertEqual(2, importlib.import_module(self.name).second)

    def test_a_second_thread_waits_until_the_module_has_run(self):
        startup.defer(self.name)
        module = sys.modules[self.name]
        self.gate.proceed.clear()
        first = threading.Thread(target=getattr, args=(module, 'first'))
        first.start()
        self.addCleanup(first.join)
        self.addCleanup(self.gate.proceed.set)
        self.assertTrue(self.gate.started.wait(10))
        seen = []
        second = threading.Thread(
            target=lambda: seen.append(getattr(module, 'second', None)))
        second.start()
        second.join(0.2)
        self.assertTrue(second.is_alive(), 'read a half-run module')
        self.gate.proceed.set()
        second.join(10)
        self.assertEqual([2], seen)

    def test_its_own_code_reading_a_later_name_fails_as_an_import_would(self):
        name = self.name + '_self'
        with open(os.path.join(self.dir, name + '.py'), 'w') as f:
            f.write('import sys\n'
                    'try:\n'
                    '    sys.modules[__name__].later\n'
                    'except AttributeError as e:\n'
                    '    early = str(e)\n'
                    'later = 1\n')
        importlib.invalidate_caches()
        self.addCleanup(sys.modules.pop, name, None)
        startup.defer(name)
        module = sys.modules[name]
        self.assertEqual(1, module.later)
        self.assertIn('partially initialised', module.early)

    def test_a_module_already_imported_is_left_alone(self):
        loaded = importlib.import_module(self.name)
        startup.defer(self.name)
        self.assertIs(loaded, sys.modules[self.name])
        self.assertIs(types.ModuleType, type(loaded))

    def test_a_module_that_does_not_exist_is_left_to_its_import(self):
        startup.defer(self.name + '_missing')
        self.assertNotIn(self.name + '_missing', sys.modules)
