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

"""Start-up: modules our processes defer until first used."""

import importlib
import os
import subprocess
import sys
import threading
import types

import fixtures
import testtools

from xenimage_import import startup


class EntryPointTest(testtools.TestCase):

    def test_no_entry_point_runs_strutils_on_import(self):
        # The commands and the plugin's worker are fresh interpreters; the
        # 400 regexes strutils compiles are a third of their start-up.
        for module in ('xenimage_import.cmd.convert',
                       'xenimage_import.cmd.check',
                       'xenimage_import.glance.worker'):
            code = ('import sys, %s\n'
                    'strutils = sys.modules["oslo_utils.strutils"]\n'
                    'print("mask_password" in vars(strutils))\n' % module)
            out = subprocess.run([sys.executable, '-c', code],
                                 stdout=subprocess.PIPE, text=True,
                                 check=True).stdout
            self.assertEqual('False', out.strip(), module)

    def test_strutils_deferred_still_answers(self):
        code = ('import xenimage_import\n'
                'from oslo_utils import strutils\n'
                'print(strutils.mask_password("password=s3cret"))\n')
        out = subprocess.run([sys.executable, '-c', code],
                             stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        self.assertEqual('password=***', out.strip())


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
