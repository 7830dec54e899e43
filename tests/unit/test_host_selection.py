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

"""Which XenServer host converts: the table, Nova's hypervisors, ranking.

Nova and Keystone cannot run here, so keystoneauth1 talks
real HTTP to a local stand-in that serves Keystone v3's token request
(with a catalog naming the compute endpoint) and Nova's
``GET /os-hypervisors/detail`` in the 2.1 microversion's shape.
"""

import http.server
import json
import os
import shutil
import tempfile
import threading

from oslo_config import cfg
import testtools

from xenimage_import import exception
from xenimage_import.helpers.xenserver import hosts
from xenimage_import.helpers.xenserver import opts as xs_opts

TOKEN = 'gAAAAAB-stub-token'


def hypervisor(name, kind='XenServer', state='up', status='enabled'):
    return {'id': abs(hash(name)) % 1000, 'hypervisor_hostname': name,
            'hypervisor_type': kind, 'state': state, 'status': status,
            'host_ip': '192.0.2.10', 'vcpus': 8, 'vcpus_used': 1,
            'memory_mb': 32768, 'memory_mb_used': 4096,
            'service': {'host': 'compute-' + name, 'id': 7,
                        'disabled_reason': None}}


class _StubCloud(http.server.ThreadingHTTPServer):
    """Keystone's token API and Nova's hypervisor list, on 127.0.0.1."""

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _StubHandler)
        self.url = 'http://127.0.0.1:%d' % self.server_address[1]
        self.hypervisors = []
        self.requests = []
        self.password = 'secret'
        self.thread = threading.Thread(target=self.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class _StubHandler(http.server.BaseHTTPRequestHandler):

    def log_message(self, *args):
        pass

    def _json(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        cloud = self.server
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        cloud.requests.append(('POST', self.path, dict(self.headers)))
        if self.path != '/identity/v3/auth/tokens':
            return self._json(404, {'error': 'not found'})
        user = body['auth']['identity']['password']['user']
        if user['password'] != cloud.password:
            return self._json(401, {'error': {'code': 401,
                                              'message': 'bad password'}})
        token = {'token': {
            'methods': ['password'], 'expires_at': '2099-01-01T00:00:00Z',
            'user': {'id': 'u1', 'name': user['name'],
                     'domain': {'id': 'default', 'name': 'Default'}},
            'project': {'id': 'p1', 'name': 'admin',
                        'domain': {'id': 'default', 'name': 'Default'}},
            'roles': [{'id': 'r1', 'name': 'admin'}],
            'catalog': [{'type': 'compute', 'name': 'nova', 'endpoints': [
                {'interface': interface, 'region': 'RegionOne',
                 'region_id': 'RegionOne',
                 'url': '%s/compute/v2.1' % cloud.url}
                for interface in ('public', 'internal')]}]}}
        self._json(201, token, [('X-Subject-Token', TOKEN)])

    def do_GET(self):
        cloud = self.server
        cloud.requests.append(('GET', self.path, dict(self.headers)))
        if self.headers.get('X-Auth-Token') != TOKEN:
            return self._json(401, {'error': 'unauthorized'})
        if self.path == '/compute/v2.1/os-hypervisors/detail':
            return self._json(200, {'hypervisors': cloud.hypervisors})
        self._json(404, {'itemNotFound': {'code': 404}})


class HostTableTest(testtools.TestCase):

    def conf(self, **options):
        conf = cfg.ConfigOpts()
        xs_opts.register_opts(conf)
        conf([])
        for key, value in options.items():
            conf.set_override(key, value, xs_opts.GROUP)
        return conf

    def test_every_configured_host_without_nova(self):
        conf = self.conf(hosts={'xs-01': 'https://10.0.0.11',
                                'xs-02': 'https://10.0.0.12'},
                         password='pw')
        found = hosts.candidates(conf)
        self.assertEqual(['xs-01', 'xs-02'], [h.name for h in found])
        self.assertEqual(['https://10.0.0.11', 'https://10.0.0.12'],
                         [h.url for h in found])
        self.assertEqual({('root', 'pw')},
                         {(h.username, h.password) for h in found})

    def test_per_host_credentials(self):
        conf = self.conf(hosts={'xs-01': 'https://10.0.0.11'},
                         host_credentials={'xs-01': 'svc/p/w:1'},
                         password='default')
        host = hosts.candidates(conf)[0]
        self.assertEqual(('svc', 'p/w:1'), (host.username, host.password))

    def test_passwords_are_secret_and_not_in_reprs(self):
        conf = self.conf(hosts={'xs-01': 'https://10.0.0.11'},
                         password='hunter2')
        self.assertNotIn('hunter2', repr(hosts.candidates(conf)))
        secret = {o.name for o in xs_opts.xenserver_opts if o.secret}
        self.assertEqual({'password', 'host_credentials'}, secret)

    def test_empty_table_fails_closed(self):
        e = self.assertRaises(hosts.NoHostAvailable, hosts.candidates,
                              self.conf())
        self.assertIn('no XenServer host is configured', str(e))


class NovaDiscoveryTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cloud = _StubCloud()
        self.addCleanup(self.cloud.stop)
        self.dir = tempfile.mkdtemp(prefix='xenimage-nova-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def conf(self, table, password='secret'):
        path = os.path.join(self.dir, 'glance-image-import.conf')
        with open(path, 'w') as f:
            f.write('[xenimage_xenserver]\nuse_nova = true\nhosts = %s\n'
                    '[xenimage_nova]\nauth_type = v3password\n'
                    'auth_url = %s/identity/v3\nusername = glance\n'
                    'password = %s\nproject_name = service\n'
                    'user_domain_name = Default\n'
                    'project_domain_name = Default\nregion_name = RegionOne\n'
                    'timeout = 10\n'
                    % (','.join('%s:https://%s' % (n, n) for n in table),
                       self.cloud.url, password))
        conf = cfg.ConfigOpts()
        xs_opts.register_opts(conf)
        conf(['--config-file', path])
        return conf

    def test_up_enabled_xenserver_hypervisors_in_the_table(self):
        self.cloud.hypervisors = [
            hypervisor('xs-01'), hypervisor('xs-02', kind='xen'),
            hypervisor('xs-down', state='down'),
            hypervisor('xs-off', status='disabled'),
            hypervisor('kvm-01', kind='QEMU'),
            hypervisor('xs-unmapped')]
        found = hosts.candidates(self.conf(['xs-01', 'xs-02', 'xs-down',
                                            'xs-off', 'kvm-01']))
        self.assertEqual(['xs-01', 'xs-02'], [h.name for h in found])
        get = [r for r in self.cloud.requests if r[0] == 'GET']
        self.assertEqual('/compute/v2.1/os-hypervisors/detail', get[0][1])

    def test_nothing_mapped_fails_closed(self):
        self.cloud.hypervisors = [hypervisor('xs-unmapped')]
        e = self.assertRaises(hosts.NoHostAvailable, hosts.candidates,
                              self.conf(['xs-01']))
        self.assertIn('Nova lists: xs-unmapped', str(e))

    def test_a_cloud_without_xenserver_fails_closed(self):
        self.cloud.hypervisors = [hypervisor('kvm-01', kind='QEMU')]
        e = self.assertRaises(hosts.NoHostAvailable, hosts.candidates,
                              self.conf(['kvm-01']))
        self.assertIn('Nova lists: none', str(e))

    def test_keystone_refusal_is_reported(self):
        e = self.assertRaises(hosts.NoHostAvailable, hosts.candidates,
                              self.conf(['xs-01'], password='wrong'))
        self.assertIn('cannot list hypervisors from Nova', str(e))
        self.assertIn('[xenimage_nova]', str(e))


class RankTest(testtools.TestCase):

    def test_most_free_space_first_and_unusable_dropped(self):
        table = [hosts.XenServerHost(n, 'https://%s' % n, 'root')
                 for n in ('a', 'b', 'c')]
        free = {'a': 10, 'b': 30}

        def free_space(host):
            if host.name not in free:
                raise exception.ConversionFailed('down')
            return free[host.name]

        self.assertEqual(['b', 'a'],
                         [h.name for h in hosts.rank(table, free_space)])

    def test_nothing_usable(self):
        table = [hosts.XenServerHost('a', 'https://a', 'root')]

        def free_space(host):
            raise exception.ConversionFailed('refused the credentials')

        e = self.assertRaises(hosts.NoHostAvailable, hosts.rank, table,
                              free_space)
        self.assertIn('refused the credentials', str(e))
