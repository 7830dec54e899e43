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

"""What the functional tests share: the CLI runner and the Glance base.

``cli`` runs a console script of this package as a user would;
:class:`GlanceTestBase` starts a real glance-api on 127.0.0.1
(lab/glance_server.py) per class, of the release the class names, and
drives it with that release's real ``glance`` client.
"""

import concurrent.futures
import functools
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import testtools

from lab import glance_server
from lab import images
from lab import keystone_server
from lab import postgres_server

# Glance's own user in Keystone (keystonemiddleware logs in as it).
GLANCE_SERVICE_PASSWORD = 'glance-service-pass'


def cli(name, *args, release=glance_server.NEWEST):
    """Run a console script of this package; return (rc, stdout, stderr).

    :param release: whose virtualenv runs it (``glance_server.RELEASES``).
    """
    python = os.path.join(release.venv, 'bin', 'python')
    proc = subprocess.run(
        [python, '-m', 'xenimage_import.cmd.%s' % name] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def catalogue(clouds_yaml, *args, cloud='lab', popen=False):
    """Run ``xenimage-catalogue`` as an operator does, with clouds.yaml.

    :param popen: return the running process (to signal it) instead of
        a finished one.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = clouds_yaml
    argv = [os.path.join(glance_server.NEWEST.venv, 'bin',
                         'xenimage-catalogue'), '--os-cloud', cloud]
    argv += list(args)
    if popen:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600)


def fixed_identity_clouds_yaml(path, server):
    """clouds.yaml for a Glance without Keystone (the fixed identity)."""
    with open(path, 'w') as f:
        f.write('clouds:\n  lab:\n    auth_type: none\n'
                '    image_endpoint_override: %s\n' % server.url)
    return path


class GlanceTestBase(testtools.TestCase):
    """One glance-api per test class."""

    # Which Glance, served as deployed (glance_server.RELEASES).
    release = glance_server.NEWEST

    # [image_import_opts] image_import_plugins, in flow order.
    plugins = ('xenimage_import',)
    plugin_conf = {}
    http_dir = None
    threads = 4
    # enabled_backends (staging through os_glance_staging_store), or
    # Glance's single-store options (node_staging_uri).
    multi_store = True
    # A real Keystone in front of Glance, with Glance in its catalogue:
    # for clients that log in as operators do (clouds.yaml, OS_*).
    keystone = False

    @classmethod
    def _server_env(cls, base_dir):
        """Extra environment for uWSGI (override in subclasses)."""
        return {}

    @classmethod
    def _prepare(cls, server):
        """Called once the server's paths exist, before it starts."""

    @classmethod
    def _python_paths(cls, base_dir):
        """More directories for the API's sys.path (override)."""
        return ()

    @classmethod
    def _database_url(cls):
        """Glance's database; SQLite unless a class needs more."""
        return None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not glance_server.installed(cls.release):
            raise unittest.SkipTest(
                '%s is not installed in %s (tools/bootstrap makes it where '
                'a Python 3.8 is found)' % (cls.release.name,
                                            cls.release.venv))
        cls.base = tempfile.mkdtemp(prefix='xenimage-glance-')
        cls.http = None
        cls.identity = None
        ports = []
        if cls.http_dir:
            cls.http = _HttpServer(os.path.join(cls.base, 'http'))
            ports.append(cls.http.port)
        cls.server = glance_server.GlanceServer(
            os.path.join(cls.base, 'glance'), plugins=cls.plugins,
            plugin_conf=cls.plugin_conf,
            python_paths=cls._python_paths(cls.base),
            allowed_ports=ports, threads=cls.threads,
            env=cls._server_env(cls.base), database_url=cls._database_url(),
            multi_store=cls.multi_store, release=cls.release)
        try:
            if cls.keystone:
                cls._start_keystone()
            cls._prepare(cls.server)
            cls.server.start()
        except Exception:
            if cls.identity:
                cls.identity.stop()
            shutil.rmtree(cls.base, ignore_errors=True)
            raise

    @classmethod
    def _start_keystone(cls):
        if not os.path.isdir(keystone_server.VENV):
            raise RuntimeError('%s missing: run tools/bootstrap'
                               % keystone_server.VENV)
        cls.identity = keystone_server.KeystoneServer(
            os.path.join(cls.base, 'keystone'), keystone_server.VENV)
        cls.identity.start()
        cls.identity.add_service_user('glance', GLANCE_SERVICE_PASSWORD)
        cls.identity.add_endpoint('image', 'glance', cls.server.url)
        cls.server.keystone = {'auth_url': cls.identity.url,
                               'password': GLANCE_SERVICE_PASSWORD,
                               'client_env': cls.identity.client_env()}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        if cls.identity:
            cls.identity.stop()
        if cls.http:
            cls.http.stop()
        shutil.rmtree(cls.base, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-gt-', dir=self.base)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.addOnException(self._attach_log)

    def _attach_log(self, exc_info):
        try:
            with open(self.server.api_log) as f:
                tail = f.readlines()[-40:]
            self.addDetailUniqueName('glance-api.log', _text(''.join(tail)))
        except OSError:
            pass

    def glance(self, *args, **kwargs):
        return self.server.glance(*args, **kwargs)

    def show(self, image_id):
        return glance_server.parse_table(
            self.glance('image-show', image_id).stdout)

    def tasks(self, image_id):
        """The image's import tasks as the CLI shows them."""
        if self.multi_store:
            return self.glance('image-tasks', image_id).stdout
        # NOTE: without enabled_backends Glance does not offer the image
        # tasks API (v2.12); its tasks are found through the tasks API.
        shown = []
        listing = self.glance('task-list').stdout
        for task_id in re.findall(r'^\|\s+([0-9a-f-]{36})\s+\|', listing,
                                  re.M):
            text = self.glance('task-show', task_id).stdout
            if image_id in text:
                shown.append(text)
        return '\n'.join(shown)

    def import_file(self, path, disk_format, *extra,
                    container_format='bare'):
        proc = self.glance('image-create-via-import', '--disk-format',
                           disk_format, '--container-format',
                           container_format, '--name',
                           os.path.basename(path), '--file', path,
                           *extra, check=False)
        self.assertIn('| id ', proc.stdout, proc.stderr)
        return glance_server.image_id_of(proc), proc

    def wait_settled(self, image_id, timeout=180, staged_only=False):
        """Wait until the import task ended; return the image record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            image = self.show(image_id)
            if staged_only:
                return image
            if image['status'] == 'active':
                return image
            # NOTE: the import had been requested when the CLI returned;
            # queued again means it failed, once the task says so.
            if image['status'] == 'queued' and (
                    not self.multi_store or re.search(
                        r'\|\s+(failure|success)\s+\|',
                        self.tasks(image_id))):
                return image
            time.sleep(0.5)
        self.fail('image %s still %s after %d s'
                  % (image_id, image['status'], timeout))

    def download(self, image_id):
        path = os.path.join(self.dir, '%s.tgz' % image_id)
        self.glance('image-download', '--file', path, image_id)
        return path

    def downloaded_vhd(self, image_id):
        """Download the image: (tarball path, its 0.vhd extracted)."""
        data = self.download(image_id)
        vhd_dir = os.path.join(self.dir, image_id)
        os.mkdir(vhd_dir)
        return data, images.extract_member(data, vhd_dir)

    def import_all(self, sources):
        """Import ``(path, disk_format)`` pairs at once.

        :returns: the image ids and their records once settled.
        """
        with concurrent.futures.ThreadPoolExecutor(len(sources)) as pool:
            ids = list(pool.map(lambda s: self.import_file(*s)[0], sources))
            return ids, list(pool.map(self.wait_settled, ids))

    def files_for(self, image_id):
        found = []
        for d in (self.server.staging, self.server.store):
            found += [n for n in os.listdir(d) if n.startswith(image_id)]
        return found


class PostgresMixin(object):
    """Glance on PostgreSQL, for tests of concurrent imports."""

    @classmethod
    def _database_url(cls):
        # NOTE: Glance on SQLite fails concurrent imports ("database is
        # locked" on task heartbeats); a real deployment uses a server DB.
        cls.postgres = postgres_server.PostgresServer().start()
        return cls.postgres.url

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.postgres.stop()


def _text(value):
    from testtools import content
    return content.text_content(value)


class _HttpServer(object):
    """A loopback HTTP server for web-download sources."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        handler = functools.partial(_QuietHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, name):
        return 'http://127.0.0.1:%d/%s' % (self.port, name)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
