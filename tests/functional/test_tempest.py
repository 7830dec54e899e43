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

"""The tempest plugin, run for real by tempest 47 against a real Keystone
and a real Glance 33 with xenimage_import (``python -m tools.tempest_lab``).
"""

import os
import re
import subprocess
import sys

import testtools
from testtools import content

from lab import keystone_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
KEYSTONE_VENV = keystone_server.VENV
TEMPEST_VENV = os.environ.get('XENIMAGE_TEMPEST_VENV',
                              os.path.join(REPO, '.venv-tempest'))
# Runs again after upstream glance-download tests timed out (see below).
RERUNS = 2
EXPECTED = (
    'test_raw_payload_becomes_tap_vhd_tarball',
    'test_each_source_format_becomes_tap_vhd_tarball',
    'test_web_download_qcow2',
    'test_user_vm_mode_is_kept',
    'test_mislabelled_upload_stays_queued',
    'test_glance_download_stays_single_wrapped',
)
# Upstream's import tests, as a regression guard: a plugin that changes
# the image's formats must not break Glance's import API.
UPSTREAM = (
    'test_image_glance_direct_import',
    'test_image_web_download_import',
    'test_image_glance_download_import_success',
    'test_image_glance_download_import_bad_uuid',
    'test_image_glance_download_import_bad_endpoint',
    'test_image_glance_download_import_bad_missing_image',
    'test_remote_import',
    'test_remote_delete',
)


class TempestPluginTest(testtools.TestCase):

    def _lab(self):
        return subprocess.run(
            [sys.executable, '-m', 'tools.tempest_lab',
             '--keystone-venv', KEYSTONE_VENV, '--tempest-venv',
             TEMPEST_VENV], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=900)

    def test_tempest_plugin_passes_against_keystone_and_glance(self):
        for venv in (KEYSTONE_VENV, TEMPEST_VENV):
            self.assertTrue(os.path.isdir(venv),
                            '%s missing: run tools/bootstrap' % venv)
        proc = self._lab()
        for name in EXPECTED:
            # The plugin's own tests must pass on the first run.
            self.assertRegex(proc.stdout, r'%s \[[0-9.]+s\] \.\.\. ok' % name)
        for attempt in range(RERUNS):
            if not proc.returncode:
                break
            # NOTE: upstream's glance-download tests poll a task of the
            # shared lab Glance; under the rest of the suite's load they
            # have been seen to wait past their timeout, twice in a row.
            # Such a failure, and only that, is run again.
            failed = re.findall(r'ImportImagesTest\.(\w+) \[[0-9.]+s\] '
                                r'\.\.\. FAILED', proc.stdout)
            self.assertTrue(failed, proc.stdout[-4000:])
            self.addDetail('run-%d' % (attempt + 1), content.text_content(
                proc.stdout[-4000:]))
            proc = self._lab()
        self.assertEqual(0, proc.returncode, proc.stdout[-4000:])
        for name in UPSTREAM:
            self.assertRegex(proc.stdout, r'ImportImagesTest\.%s '
                                          r'\[[0-9.]+s\] \.\.\. ok' % name)
        # Only the boot test may skip: this cloud has no XenServer compute.
        self.assertRegex(proc.stdout, r'XenImageBootTest\) \.\.\. SKIPPED: '
                                      r'compute is not XenServer')
        self.assertIn(' - Skipped: 1', proc.stdout)
        self.assertIn(' - Failed: 0', proc.stdout)
