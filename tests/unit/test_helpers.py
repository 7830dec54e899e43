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

"""Which helper a name loads: the built-in writer, or an installed driver.

Other helpers are real installed distributions here: a ``.dist-info``
folder with its ``entry_points.txt`` on the path of a fresh interpreter,
found the way pip-installed packages are.
"""

import json
import os
import subprocess
import sys
import textwrap

import fixtures
import testtools

from xenimage_import import helpers
from xenimage_import.helpers.local import driver as local

_DRIVER = textwrap.dedent('''
    from xenimage_import import helpers

    class AcmeHelper(helpers.Helper):
        name = 'acme'

        def convert(self, request):
            raise NotImplementedError
    ''')


class LoadTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def install(self, module_source, entry_point):
        """Install a distribution registering ``acme`` as a helper."""
        with open(os.path.join(self.dir, 'acme_helper.py'), 'w') as f:
            f.write(module_source)
        info = os.path.join(self.dir, 'acme_helper-1.0.dist-info')
        os.mkdir(info)
        with open(os.path.join(info, 'METADATA'), 'w') as f:
            f.write('Metadata-Version: 2.1\nName: acme-helper\n'
                    'Version: 1.0\n')
        with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
            f.write('[%s]\nacme = %s\n' % (helpers.NAMESPACE, entry_point))

    def load(self, name):
        """``helpers.load(name)`` in a fresh interpreter seeing the install.

        :returns: the helper's class name and conf, or the error's.
        """
        code = textwrap.dedent('''
            import json, sys
            from xenimage_import import exception, helpers
            try:
                helper = helpers.load(sys.argv[1], conf='the conf')
                print(json.dumps([type(helper).__name__, helper.conf]))
            except exception.HelperNotFound as e:
                print(json.dumps(['HelperNotFound', str(e)]))
            ''')
        env = dict(os.environ, PYTHONPATH=self.dir,
                   XDG_CACHE_HOME=os.path.join(self.dir, 'cache'))
        out = subprocess.run([sys.executable, '-c', code, name], env=env,
                             stdout=subprocess.PIPE, text=True, check=True)
        return json.loads(out.stdout)

    def test_local_is_the_built_in_writer(self):
        helper = helpers.load('local', conf='the conf')
        self.assertIsInstance(helper, local.LocalHelper)
        self.assertEqual(('local', 'the conf'), (helper.name, helper.conf))

    def test_another_helper_is_found_by_its_entry_point(self):
        self.install(_DRIVER, 'acme_helper:AcmeHelper')
        self.assertEqual(['AcmeHelper', 'the conf'], self.load('acme'))

    def test_an_unknown_name_says_where_helpers_register(self):
        kind, message = self.load('acme')
        self.assertEqual('HelperNotFound', kind)
        self.assertEqual(
            "no conversion helper named 'acme' is installed ('local' is "
            "built in; others register in the xenimage_import.helpers "
            "entry point group)", message)

    def test_a_driver_missing_its_packages_names_them(self):
        self.install('import acme_sdk\n' + _DRIVER,
                     'acme_helper:AcmeHelper')
        kind, message = self.load('acme')
        self.assertEqual('HelperNotFound', kind)
        self.assertIn("conversion helper 'acme' needs packages that are "
                      "not installed (No module named 'acme_sdk'): install "
                      "the package that provides it", message)

    def test_a_driver_that_fails_to_load_gives_its_reason(self):
        self.install('raise ValueError("bad driver")\n',
                     'acme_helper:AcmeHelper')
        self.assertEqual(
            ['HelperNotFound', "conversion helper 'acme' could not be "
             "loaded: bad driver"], self.load('acme'))

    def test_a_shipped_helper_missing_its_extra_names_the_extra(self):
        # As xenserver without XenAPI: a driver of this package that
        # cannot be imported.
        self.install('', 'xenimage_import.helpers.acme.driver:AcmeHelper')
        kind, message = self.load('acme')
        self.assertEqual('HelperNotFound', kind)
        self.assertTrue(message.endswith(
            ': pip install "xenimage_import[acme]"'), message)
