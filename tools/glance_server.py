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

"""A real glance-api 33 on 127.0.0.1, for the functional tests and the demo.

Glance 33 is served by uWSGI (``glance.wsgi.api:application``) with SQLite,
one file store, its staging and tasks stores, and xenimage_import enabled
in glance-image-import.conf. There is no Keystone: a paste filter
(``glance_fixed_identity``) gives every request the same admin identity.
The real ``glance`` CLI talks to it with ``OS_IMAGE_URL`` and any token.

Run by hand: ``python tools/glance_server.py DIR`` starts one and waits.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))

_PASTE_INI = """\
[composite:glance-api-fixedidentity]
paste.composite_factory = glance.api:root_app_factory
/: api

[composite:api]
paste.composite_factory = glance.api:pipeline_factory
fixedidentity = http_proxy_to_wsgi versionnegotiation fixedidentity rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:\
VersionNegotiationFilter.factory

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[filter:fixedidentity]
paste.filter_factory = glance_fixed_identity:FixedIdentityMiddleware.factory
"""

_API_CONF = """\
[DEFAULT]
log_file = {log_dir}/glance-api.log
debug = {debug}
enabled_backends = file1:file
enabled_import_methods = [{import_methods}]
worker_self_reference_url = {url}

[database]
connection = {database_url}

[glance_store]
default_backend = file1

[file1]
filesystem_store_datadir = {store}/

[os_glance_staging_store]
filesystem_store_datadir = {base}/staging/

[os_glance_tasks_store]
filesystem_store_datadir = {base}/tasks/

[oslo_concurrency]
lock_path = {base}/locks

[paste_deploy]
flavor = fixedidentity
config_file = {etc}/glance-api-paste.ini

[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [{allowed_ports}]

[wsgi]
python_interpreter = {python}
task_pool_threads = {task_threads}
"""

_UWSGI_INI = """\
[uwsgi]
http-socket = 127.0.0.1:{port}
module = glance.wsgi.api:application
env = OS_GLANCE_CONFIG_DIR={etc}
virtualenv = {venv}
pythonpath = {tools}
master = true
processes = 1
threads = {threads}
enable-threads = true
lazy-apps = true
need-app = true
die-on-term = true
http-auto-chunked = true
http-raw-body = true
chunked-input-limit = 4096000
buffer-size = 65535
add-header = Connection: close
logto = {log_dir}/uwsgi.log
pidfile = {base}/uwsgi.pid
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_http(url, proc, timeout, log_dir):
    """Wait until ``url`` answers, failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('%s exited (%s); see %s'
                               % (proc.args[0], proc.returncode, log_dir))
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return                      # it answers, even if not 200
        except OSError:
            time.sleep(0.2)
    raise RuntimeError('%s did not answer within %d s; see %s'
                       % (url, timeout, log_dir))


def _venv():
    return sys.prefix


def _bin(name):
    return os.path.join(_venv(), 'bin', name)


class GlanceServer(object):
    """Write the configuration, sync the database, run and stop uWSGI.

    :param base: an empty directory that holds everything.
    :param plugins: ``image_import_plugins`` for glance-image-import.conf.
    :param plugin_conf: options for the ``[xenimage_import]`` section; a
        dict value is a section of its own (``xenimage_xenserver``).
    :param allowed_ports: extra ports web-download may fetch from.
    """

    def __init__(self, base, plugins=('xenimage_import',), plugin_conf=None,
                 allowed_ports=(), threads=4, debug=False, env=None,
                 database_url=None, keystone=None, store=None,
                 import_methods=('glance-direct', 'web-download',
                                 'copy-image')):
        self.base = os.path.abspath(base)
        self.etc = os.path.join(self.base, 'etc')
        self.log_dir = os.path.join(self.base, 'log')
        self.staging = os.path.join(self.base, 'staging')
        # Workers of one deployment share the database and the store.
        self.store = store or os.path.join(self.base, 'store')
        self.plugins = list(plugins)
        self.plugin_conf = dict(plugin_conf or {})
        self.allowed_ports = list(allowed_ports)
        self.threads = threads
        self.debug = debug
        self.env = dict(env or {})
        # keystone: {'auth_url': ..., 'password': ...} for a real Keystone.
        self.keystone = keystone
        self.import_methods = list(import_methods)
        self.database_url = database_url or 'sqlite:///%s/glance.sqlite' % (
            self.base)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.proc = None

    @property
    def api_log(self):
        return os.path.join(self.log_dir, 'glance-api.log')

    def client_env(self):
        """Environment for the real ``glance`` CLI, no Keystone."""
        env = dict(os.environ)
        for key in list(env):
            if key.startswith('OS_'):
                del env[key]
        env.update(OS_IMAGE_URL=self.url, OS_AUTH_TOKEN='fixed-identity',
                   OS_IMAGE_API_VERSION='2')
        return env

    def write_config(self):
        for d in (self.etc, self.log_dir, self.staging, self.store,
                  os.path.join(self.base, 'tasks'),
                  os.path.join(self.base, 'locks')):
            os.makedirs(d, exist_ok=True)
        values = dict(base=self.base, etc=self.etc, log_dir=self.log_dir,
                      store=self.store,
                      url=self.url, port=self.port, python=_bin('python'),
                      venv=_venv(), tools=TOOLS_DIR, threads=self.threads,
                      task_threads=max(4, self.threads),
                      debug=str(self.debug),
                      database_url=self.database_url,
                      import_methods=','.join(self.import_methods),
                      allowed_ports=','.join(
                          str(p) for p in [80, 443] + self.allowed_ports))
        files = {
            'glance-api.conf': _API_CONF,
            'glance-api-paste.ini': _PASTE_INI,
            'uwsgi.ini': _UWSGI_INI,
        }
        for name, template in files.items():
            with open(os.path.join(self.etc, name), 'w') as f:
                f.write(template.format(**values))
                if name == 'uwsgi.ini':
                    for key, value in sorted(self.env.items()):
                        f.write('env = %s=%s\n' % (key, value))
        if self.keystone:
            self._use_keystone()
        with open(os.path.join(self.etc, 'glance-image-import.conf'),
                  'w') as f:
            f.write('[image_import_opts]\nimage_import_plugins = [%s]\n'
                    % ','.join(self.plugins))
            # Dict values are sections of their own ([xenimage_xenserver]).
            sections = {'xenimage_import': {
                k: v for k, v in self.plugin_conf.items()
                if not isinstance(v, dict)}}
            sections.update((k, v) for k, v in self.plugin_conf.items()
                            if isinstance(v, dict))
            for section, options in sorted(sections.items()):
                if options:
                    f.write('\n[%s]\n' % section)
                    for key, value in sorted(options.items()):
                        f.write('%s = %s\n' % (key, value))

    def _use_keystone(self):
        """Glance's own keystone pipeline instead of the fixed identity."""
        shutil.copy(os.path.join(_venv(), 'etc', 'glance',
                                 'glance-api-paste.ini'),
                    os.path.join(self.etc, 'glance-api-paste.ini'))
        path = os.path.join(self.etc, 'glance-api.conf')
        with open(path) as f:
            conf = f.read().replace('flavor = fixedidentity',
                                    'flavor = keystone')
        conf += ('\n[keystone_authtoken]\nwww_authenticate_uri = {url}\n'
                 'auth_url = {url}\nauth_type = password\n'
                 'project_domain_name = Default\n'
                 'user_domain_name = Default\nproject_name = service\n'
                 'username = glance\npassword = {password}\n'.format(
                     url=self.keystone['auth_url'],
                     password=self.keystone['password']))
        with open(path, 'w') as f:
            f.write(conf)

    def db_sync(self):
        subprocess.run([_bin('glance-manage'), '--config-dir', self.etc,
                        'db_sync'], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self, timeout=60):
        if not os.path.exists(os.path.join(self.etc, 'glance-api.conf')):
            self.write_config()
            self.db_sync()
        out = open(os.path.join(self.log_dir, 'uwsgi-stdout.log'), 'ab')
        self.proc = subprocess.Popen(
            [_bin('uwsgi'), '--ini', os.path.join(self.etc, 'uwsgi.ini')],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60):
        try:
            wait_http(self.url + '/versions', self.proc, timeout, self.log_dir)
        except RuntimeError:
            self.stop()
            raise

    def worker_pids(self):
        """PIDs of the uWSGI workers (children of the master)."""
        out = subprocess.run(['ps', '-o', 'pid=', '--ppid',
                              str(self.proc.pid)], stdout=subprocess.PIPE,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def glance(self, *args, check=True, timeout=300):
        """Run the real ``glance`` CLI against this server."""
        # NOTE: glanceclient reads image data from any stdin that is not a
        # terminal; only a closed stdin means "no data" (the shell's <&-).
        proc = subprocess.run([_bin('glance')] + list(args),
                              env=self.client_env(),
                              preexec_fn=lambda: os.close(0),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
        if check and proc.returncode:
            raise RuntimeError('glance %s failed (%d): %s'
                               % (' '.join(args), proc.returncode,
                                  proc.stderr.strip()))
        return proc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def main(argv):
    base = argv[1] if len(argv) > 1 else os.path.join(os.getcwd(),
                                                      'glance-demo')
    server = GlanceServer(base).start()
    print('glance-api on %s (config in %s); Ctrl-C stops it'
          % (server.url, server.etc))
    print('export OS_IMAGE_URL=%s OS_AUTH_TOKEN=fixed-identity '
          'OS_IMAGE_API_VERSION=2' % server.url)
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == '__main__':
    main(sys.argv)
