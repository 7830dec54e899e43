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

"""A real Keystone on 127.0.0.1 (uWSGI, SQLite, fernet) for tempest runs.

Configured as the tempest run needs it (tools/tempest_lab.py); bcrypt
rounds are lowered because tempest creates and authenticates many users.
"""

import os
import subprocess

import glance_server

_CONF = """\
[DEFAULT]
log_file = {base}/keystone.log
[database]
connection = sqlite:///{base}/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = {base}/fernet-keys
[credential]
key_repository = {base}/credential-keys
[identity]
password_hash_rounds = 4
"""

_UWSGI = """\
[uwsgi]
http-socket = 127.0.0.1:{port}
module = keystone.wsgi.api:application
env = OS_KEYSTONE_CONFIG_DIR={base}
virtualenv = {venv}
master = true
processes = 2
threads = 1
enable-threads = true
lazy-apps = true
need-app = true
die-on-term = true
buffer-size = 65535
add-header = Connection: close
logto = {base}/uwsgi.log
"""

ADMIN_PASSWORD = 'adminpass'


class KeystoneServer(object):

    def __init__(self, base, venv):
        self.base = os.path.abspath(base)
        self.venv = venv
        self.port = glance_server.free_port()
        self.url = 'http://127.0.0.1:%d/v3' % self.port
        self.proc = None

    def _manage(self, *args):
        subprocess.run([os.path.join(self.venv, 'bin', 'keystone-manage'),
                        '--config-file',
                        os.path.join(self.base, 'keystone.conf')] +
                       list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self):
        os.makedirs(self.base, exist_ok=True)
        values = dict(base=self.base, port=self.port, venv=self.venv)
        for name, template in (('keystone.conf', _CONF),
                               ('uwsgi.ini', _UWSGI)):
            with open(os.path.join(self.base, name), 'w') as f:
                f.write(template.format(**values))
        self._manage('db_sync')
        for what in ('fernet_setup', 'credential_setup'):
            self._manage(what, '--keystone-user', 'root',
                         '--keystone-group', 'root')
        self._manage('bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
                     '--bootstrap-admin-url', self.url,
                     '--bootstrap-public-url', self.url,
                     '--bootstrap-internal-url', self.url,
                     '--bootstrap-region-id', 'RegionOne')
        self.proc = subprocess.Popen(
            [os.path.join(self.venv, 'bin', 'uwsgi'), '--ini',
             os.path.join(self.base, 'uwsgi.ini')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, start_new_session=True)
        glance_server.wait_http(self.url, self.proc, 60, self.base)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
