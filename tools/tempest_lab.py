#!/usr/bin/env python3
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

"""Run the tempest plugin for real: Keystone + Glance 33 + tempest 47.

    python -m tools.tempest_lab --keystone-venv V1 --tempest-venv V2 \\
        [--regex REGEX] [--keep]

Keystone and Glance (keystone auth, xenimage_import enabled) run on
127.0.0.1: two API workers of RegionOne sharing one database and store
(the second is tempest's ``image_remote``), and a RegionTwo Glance as a
glance-download source. Their databases are PostgreSQL, as a cloud's
are: on SQLite, when two of Glance's writers meet, one fails with
"database is locked", and Glance's task pool drops an exception raised
before a task's first status update is saved. Such a task stays
"pending" with nothing logged, as tasks now and then did in these runs
under load. tempest runs serially (SQLite) with dynamic credentials:
the plugin's tests and, as a regression guard, upstream
``ImportImagesTest``. Exit status is tempest's.
"""

import argparse
import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from lab import glance_server
from lab import keystone_server
from lab import postgres_server

GLANCE_PASSWORD = 'glancepass'
DEFAULT_REGEX = ('(xenimage_import|'
                 'tempest.api.image.v2.test_images.ImportImagesTest)')
REMOTE_REGION = 'RegionTwo'

_TEMPEST_CONF = """\
[DEFAULT]
log_dir = {ws}/logs
log_file = tempest.log
[oslo_concurrency]
lock_path = {ws}/locks
[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = {admin_password}
admin_project_name = admin
admin_domain_name = Default
create_isolated_networks = False
[identity]
uri_v3 = {auth_url}
auth_version = v3
region = RegionOne
v3_endpoint_type = public
[identity-feature-enabled]
api_v2 = False
[service_available]
glance = True
nova = False
neutron = False
cinder = False
swift = False
[image]
build_timeout = 120
http_qcow2_image = {http_qcow2}
alternate_image_endpoint = image_remote
[image-feature-enabled]
import_image = True
[validation]
run_validation = False
[xenimage_import]
enabled = True
glance_download_region = {remote_region}
"""


def _openstack(venv, auth_url, *args):
    env = dict(os.environ, OS_AUTH_URL=auth_url, OS_USERNAME='admin',
               OS_PASSWORD=keystone_server.ADMIN_PASSWORD,
               OS_PROJECT_NAME='admin', OS_USER_DOMAIN_NAME='Default',
               OS_PROJECT_DOMAIN_NAME='Default', OS_IDENTITY_API_VERSION='3',
               OS_REGION_NAME='RegionOne')
    subprocess.run([os.path.join(venv, 'bin', 'openstack')] + list(args),
                   env=env, check=True, stdout=subprocess.DEVNULL)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QcowServer(object):
    """Loopback HTTP server of one small qcow2, for web-download."""

    def __init__(self, directory):
        os.makedirs(directory)
        raw = os.path.join(directory, 'small.raw')
        with open(raw, 'wb') as f:
            f.write(os.urandom(1024 * 1024))
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'qcow2', raw, os.path.join(directory,
                                                   'small.qcow2')],
                       check=True)
        handler = functools.partial(_QuietHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.port = self.httpd.server_address[1]
        self.url = 'http://127.0.0.1:%d/small.qcow2' % self.port
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _serve_qcow2(directory):
    return _QcowServer(directory)


def _terminate(signum, frame):
    # The servers are stopped in main()'s finally, as on Ctrl-C.
    raise SystemExit(128 + signum)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--keystone-venv', required=True)
    p.add_argument('--tempest-venv', required=True)
    p.add_argument('--regex', default=DEFAULT_REGEX)
    p.add_argument('--keep', action='store_true')
    args = p.parse_args()
    if not postgres_server.available():
        p.error('PostgreSQL is not installed (bindep.txt: postgresql)')
    signal.signal(signal.SIGTERM, _terminate)

    base = tempfile.mkdtemp(prefix='xenimage-tempest-')
    ks = keystone_server.KeystoneServer(os.path.join(base, 'ks'),
                                        args.keystone_venv)
    glance = worker2 = remote = http = database = None
    try:
        ks.start()
        database = postgres_server.PostgresServer().start()
        http = _serve_qcow2(os.path.join(base, 'http'))
        keystone = {'auth_url': ks.url, 'password': GLANCE_PASSWORD}
        # A second region's Glance, the source of glance-download.
        remote = glance_server.GlanceServer(
            os.path.join(base, 'glance-remote'), keystone=keystone,
            database_url=database.add_database('glance_remote'))
        methods = ('glance-direct', 'web-download', 'copy-image',
                   'glance-download')
        glance = glance_server.GlanceServer(
            os.path.join(base, 'glance'), keystone=keystone,
            allowed_ports=[http.port, remote.port], import_methods=methods,
            database_url=database.url)
        # upstream glance-download tests fetch from RegionOne itself.
        glance.allowed_ports.append(glance.port)
        # A second worker: an import or delete sent to it is proxied to
        # the worker that holds the staged data (test_remote_*).
        worker2 = glance_server.GlanceServer(
            os.path.join(base, 'glance-worker2'), keystone=keystone,
            allowed_ports=glance.allowed_ports, import_methods=methods,
            database_url=glance.database_url, store=glance.store)
        ost = lambda *a: _openstack(args.tempest_venv, ks.url, *a)  # noqa
        ost('project', 'create', '--domain', 'Default', 'service')
        ost('user', 'create', '--domain', 'Default', '--password',
            GLANCE_PASSWORD, 'glance')
        ost('role', 'add', '--project', 'service', '--user', 'glance',
            'admin')
        ost('service', 'create', '--name', 'glance', 'image')
        for interface in ('public', 'internal', 'admin'):
            ost('endpoint', 'create', '--region', 'RegionOne', 'image',
                interface, glance.url)
        ost('service', 'create', '--name', 'glance_remote', 'image_remote')
        ost('endpoint', 'create', '--region', 'RegionOne', 'image_remote',
            'public', worker2.url)
        ost('region', 'create', REMOTE_REGION)
        ost('endpoint', 'create', '--region', REMOTE_REGION, 'image',
            'public', remote.url)
        remote.start()
        glance.start()
        worker2.start()

        ws = os.path.join(base, 'tempest')
        for d in ('etc', 'logs', 'locks'):
            os.makedirs(os.path.join(ws, d))
        with open(os.path.join(ws, 'etc', 'tempest.conf'), 'w') as f:
            f.write(_TEMPEST_CONF.format(
                ws=ws, auth_url=ks.url, http_qcow2=http.url,
                remote_region=REMOTE_REGION,
                admin_password=keystone_server.ADMIN_PASSWORD))
        tempest_pkg = subprocess.run(
            [os.path.join(args.tempest_venv, 'bin', 'python'), '-c',
             'import os, tempest; '
             'print(os.path.dirname(tempest.__file__))'],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        with open(os.path.join(ws, '.stestr.conf'), 'w') as f:
            f.write('[DEFAULT]\ntest_path=%s/test_discover\ntop_dir=%s\n'
                    'group_regex=([^\\.]*\\.)*\n'
                    % (tempest_pkg, os.path.dirname(tempest_pkg)))
        rc = subprocess.run(
            [os.path.join(args.tempest_venv, 'bin', 'tempest'), 'run',
             '--serial', '--regex', args.regex], cwd=ws,
            env=dict(os.environ,
                     TEMPEST_CONFIG_DIR=os.path.join(ws, 'etc'))).returncode
        return rc
    finally:
        for server in (glance, worker2, remote):
            if server:
                server.stop()
        if http:
            http.stop()
        if database:
            database.stop()
        ks.stop()
        if args.keep:
            print('kept %s' % base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
