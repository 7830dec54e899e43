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

"""A XAPI simulator: the XenServer side of the ``xenserver`` helper's tests.

No XenServer host can run here, so tests talk to this simulator instead.
It is a real XML-RPC server on 127.0.0.1 speaking XAPI's wire protocol and
its ``/import_raw_vdi`` HTTP handler, and it runs the real dom0 plugin file
with XAPI's argv/stdout convention. See server.py for what is simulated
and how faithfully.
"""

import glob
import os
import shutil
import subprocess
import sys

# XenAPIPlugin and XenAPI stand-ins, for the plugin's PYTHONPATH.
STUBS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dom0')


def dom0_pythons():
    """Interpreters dom0 plugins run on, as found here: {label: path}.

    Python 2.7 (XenServer 7, Citrix Hypervisor 8.2, XCP-ng 8.2/8.3) and
    3.6 (XCP-ng 8.3's python3) come from pyenv or the PATH when present;
    the test interpreter stands in for XenServer 8's python3.
    """
    found = {'python3': sys.executable}
    for label, names in (('python2.7', ('python2.7', 'python2')),
                         ('python3.6', ('python3.6',))):
        version = label[len('python'):]
        candidates = sorted(glob.glob(os.path.expanduser(
            '~/.pyenv/versions/%s.*/bin/python' % version)))
        candidates += [shutil.which(n) for n in names]
        for path in candidates:
            if path and _runs(path, version):
                found[label] = path
                break
    return found


def _runs(path, version):
    # NOTE: pyenv shims are on the PATH whether or not they work.
    try:
        out = subprocess.run([path, '-c', 'import ssl, sys; '
                              'print("%d.%d" % sys.version_info[:2])'],
                             capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == version
