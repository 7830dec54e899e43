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

"""A throw-away PostgreSQL server on 127.0.0.1 for Glance under load.

Glance with SQLite fails concurrent imports ("database is locked" on its
task heartbeats), so the load test runs Glance on a real PostgreSQL: a
cluster made with initdb in a temporary directory, run by pg_ctl as the
``postgres`` user when started as root, with fsync off (test data).
"""

import glob
import os
import shutil
import subprocess
import tempfile

import glance_server


def available():
    return bool(_bindir())


def _bindir():
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/pg_ctl'))
    return os.path.dirname(found[-1]) if found else None


class PostgresServer(object):

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='xenimage-pg-')
        self.data = os.path.join(self.dir, 'data')
        self.port = glance_server.free_port()
        self.bindir = _bindir()
        self.url = ('postgresql+psycopg2://postgres@127.0.0.1:%d/glance'
                    % self.port)

    def _run(self, tool, *args):
        cmd = [os.path.join(self.bindir, tool)] + list(args)
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            cmd = ['runuser', '-u', 'postgres', '--'] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=self.dir)

    def start(self):
        if os.geteuid() == 0:
            shutil.chown(self.dir, 'postgres', 'postgres')
        self._run('initdb', '-D', self.data, '-U', 'postgres',
                  '--auth=trust', '-E', 'UTF8', '--no-sync')
        self._run('pg_ctl', '-D', self.data, '-w', '-l',
                  os.path.join(self.dir, 'postgres.log'), '-o',
                  '-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off '
                  '-c max_connections=200' % (self.port, self.dir), 'start')
        self._run('createdb', '-h', '127.0.0.1', '-p', str(self.port),
                  '-U', 'postgres', 'glance')
        return self

    def stop(self):
        try:
            self._run('pg_ctl', '-D', self.data, '-m', 'fast', 'stop')
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
