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

"""Two glance-api nodes: an import runs where the data was staged.

Glance scales out as nodes behind a load balancer, each with its own
staging directory and lock path, sharing the database and the store. The
node that stages an image records its ``worker_self_reference_url`` on it
(``os_glance_stage_host``); an import request that reaches another node is
proxied there with the user's token. So this runs a real Keystone (the
proxy re-presents the token), one PostgreSQL database, one file store and
two real glance-api, and drives them with the real ``glance`` CLI.
"""

import concurrent.futures
import os
import re
import shutil
import tempfile
import time

import testtools

from lab import glance_server
from lab import images
from lab import keystone_server
from lab import postgres_server
from tests.functional import base

MiB = images.MiB


@testtools.skipUnless(postgres_server.available(),
                      'PostgreSQL is not installed (bindep.txt)')
class DistributedImportTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.path.isdir(keystone_server.VENV):
            raise RuntimeError('%s missing: run tools/bootstrap'
                               % keystone_server.VENV)
        cls.base = tempfile.mkdtemp(prefix='xenimage-2nodes-')
        cls.postgres = postgres_server.PostgresServer().start()
        cls.keystone = keystone_server.KeystoneServer(
            os.path.join(cls.base, 'keystone'), keystone_server.VENV)
        cls.nodes = []
        try:
            cls.keystone.start()
            cls.keystone.add_service_user('glance',
                                          base.GLANCE_SERVICE_PASSWORD)
            auth = {'auth_url': cls.keystone.url,
                    'password': base.GLANCE_SERVICE_PASSWORD,
                    'client_env': cls.keystone.client_env()}
            store = os.path.join(cls.base, 'store')
            for name in ('node-a', 'node-b'):
                cls.nodes.append(glance_server.GlanceServer(
                    os.path.join(cls.base, name), keystone=auth,
                    database_url=cls.postgres.url, store=store,
                    plugin_conf={'max_concurrent_conversions': 2}))
            for node in cls.nodes:
                node.start()
        except Exception:
            cls._stop_all()
            raise
        cls.a, cls.b = cls.nodes
        src = os.path.join(cls.base, 'sources')
        os.mkdir(src)
        cls.sources = []
        for n in range(4):
            raw = images.make_sparse(
                os.path.join(src, 'img%d.raw' % n), (20 + n) * MiB,
                images.scattered_regions((20 + n) * MiB, 3, 2 * MiB,
                                         seed=n), seed=n)
            cls.sources.append((raw, images.qemu_convert(
                raw, os.path.join(src, 'img%d.qcow2' % n), 'qcow2')))

    @classmethod
    def _stop_all(cls):
        for node in cls.nodes:
            node.stop()
        cls.keystone.stop()
        cls.postgres.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._stop_all()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(dir=self.base)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def stage(self, node, path):
        proc = node.glance('image-create', '--disk-format', 'qcow2',
                           '--container-format', 'bare', '--name',
                           os.path.basename(path))
        image_id = glance_server.image_id_of(proc)
        node.glance('image-stage', '--file', path, image_id)
        return image_id

    def show(self, node, image_id):
        return glance_server.parse_table(
            node.glance('image-show', image_id).stdout)

    def wait_settled(self, node, image_id, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            image = self.show(node, image_id)
            if image['status'] == 'active' or (
                    image['status'] == 'queued' and re.search(
                        r'\|\s+(failure|success)\s+\|',
                        node.glance('image-tasks', image_id).stdout)):
                return image
            time.sleep(0.5)
        self.fail('image %s still %s' % (image_id, image['status']))

    def converted_on(self, image_id):
        """The nodes whose plugin converted ``image_id``, from their logs."""
        found = []
        for node in self.nodes:
            with open(node.api_log) as f:
                if re.search(r'Image %s: qcow2 image converted' % image_id,
                             f.read()):
                    found.append(node)
        return found

    def assert_converted(self, image_id, raw, node):
        image = self.wait_settled(node, image_id)
        self.assertEqual('active', image['status'],
                         node.glance('image-tasks', image_id).stdout)
        self.assertEqual(('vhd', 'ovf'),
                         (image['disk_format'], image['container_format']))
        data = os.path.join(self.dir, image_id + '.tgz')
        node.glance('image-download', '--file', data, image_id)
        rc, out, err = base.cli('check', data)
        self.assertEqual(0, rc, out + err)
        vhd_dir = os.path.join(self.dir, image_id)
        os.mkdir(vhd_dir)
        same, message = images.qemu_compare(
            images.extract_member(data, vhd_dir), 'vpc', raw, 'raw')
        self.assertTrue(same, message)

    def assert_staging_clean(self):
        for node in self.nodes:
            self.assertEqual([], os.listdir(node.staging), node.base)

    def test_imports_through_either_node_convert_where_staged(self):
        # Four images staged across both nodes, all imported at once: one
        # from each node through the other (proxied to where it is
        # staged), one through the node that holds it.
        plan = [(self.a, self.b), (self.b, self.a), (self.a, self.a),
                (self.b, self.b)]
        staged = []
        for (raw, qcow2), (here, there) in zip(self.sources, plan):
            staged.append((self.stage(here, qcow2), raw, here, there))

        def run_import(item):
            image_id, _raw, _here, there = item
            there.glance('image-import', '--import-method', 'glance-direct',
                         image_id)

        with concurrent.futures.ThreadPoolExecutor(len(staged)) as pool:
            list(pool.map(run_import, staged))
        for image_id, raw, here, there in staged:
            self.assert_converted(image_id, raw, there)
            self.assertEqual([here], self.converted_on(image_id))
            with open(there.api_log) as f:
                proxied = 'Proxying POST request to host %s' % here.url
                if there is here:
                    self.assertNotIn(proxied, f.read())
                else:
                    self.assertIn(proxied, f.read())
        self.assert_staging_clean()
