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

"""A XAPI simulator: a XenServer pool for the helper's tests.

SIMULATOR. No XenServer can run on a test machine, so this stands in for
one, faithful to what the ``xenserver`` helper relies on
(doc/source/xenserver-helper.rst):

* a real XML-RPC server on 127.0.0.1 (``/`` and ``/RPC2``): every answer
  is a struct with ``Status`` and ``Value`` or ``ErrorDescription`` (a
  list of strings); integers travel as decimal strings, refs are opaque
  ``OpaqueRef:<uuid>`` strings; wrong session -> ``SESSION_INVALID``,
  unknown ref -> ``HANDLE_INVALID``, unknown method ->
  ``MESSAGE_METHOD_UNKNOWN``, wrong arity ->
  ``MESSAGE_PARAMETER_COUNT_MISMATCH``, bad password ->
  ``SESSION_AUTHENTICATION_FAILED``, a login at a pool member ->
  ``HOST_IS_SLAVE [master address]``; members listen on other loopback
  addresses (127.0.0.2, ...) at the master's port;
* tasks with XAPI's states (pending, success, failure, cancelling,
  cancelled) and XML-RPC-encoded results;
* ``PUT /import_raw_vdi`` as import_raw_vdi.ml answers it: 401 for a bad
  session, 404 for an unknown format or a chunked VHD, 400 without a VDI,
  302 to the host that has the (local) SR, and otherwise ``200`` with
  ``task-id`` *before* the body is read; the outcome is in the task only
  (``VDI_IO_ERROR`` for a VHD vhd-tool would refuse or one larger than
  the VDI);
* ``host.call_plugin`` / ``Async.host.call_plugin`` execute the real
  plugin file from the target host's ROOT/etc/xapi.d/plugins (each host
  has its own dom0 ROOT; only the SR's host has the SR mounted) with
  the methodCall as argv[1]
  and parse its stdout as xapi_plugins.ml does (non-zero exit, signal,
  unparseable output -> ``XENAPI_PLUGIN_FAILURE``; a missing file ->
  ``XENAPI_MISSING_PLUGIN``); ``task.cancel`` of a plugin call is
  recorded and ignored, as xapi does (the plugin never polls for it): the
  task stays pending and the plugin runs on; ``task.destroy`` of a
  running task takes effect when it completes.

Stand-ins, said plainly: the SR is a directory (ROOT/run/sr-mount/<uuid>
of its host) holding ``<vdi-uuid>.vhd`` files; vhd-tool's reading of the
upload and tapdisk's writing of the VDI file are tapdisk.py, a second
VHD implementation that shares no code with xenimage_import's (so the SR
file the plugin sends back is not the helper's own output in disguise);
``vhd-util``/``tap-ctl`` are dom0tools.py;
XenAPIPlugin/XenAPI are the modules in dom0/. As on a thin FileSR,
``VDI.create`` rounds the size up to 2 MiB and never answers SR_FULL;
an import that does not fit fails as VDI_IO_ERROR, and utilisation is
what the SR's files hold on disk. Only ``format=vhd`` imports are
simulated.

Faults for tests (``faults`` dict): ``corrupt_upload`` (garble the body
xapi receives), ``damage_sr_file`` (break the SR file after the import),
``plugin_delay`` (seconds before the plugin starts), ``token`` (replace
the token passed to the plugin), ``summary_sha256`` (replace the sha256
the plugin returns), ``attached`` (a tapdisk has the VDI open).
"""

import errno
import inspect
import json
import os
import random
import shutil
import socketserver
import subprocess
import sys
import threading
import urllib.parse
import uuid
import xml.sax.saxutils
import xmlrpc.client
import xmlrpc.server

from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import tls as xtls

from lab import xapisim
from lab.xapisim import dom0tools
from lab.xapisim import tapdisk

PLUGIN_PATH_ENV = '/sbin:/usr/sbin:/bin:/usr/bin'
# Where xapi listens (stunnel on 443 in front of it on a real host).
STANDARD_PORTS = {'https': 443, 'http': 80}
GiB = 1024 ** 3


class Failure(Exception):
    def __init__(self, *description):
        super().__init__(description)
        self.description = [str(d) for d in description]


def _ref():
    return 'OpaqueRef:%s' % uuid.uuid4()


def _value(text):
    """A string result as XAPI puts it in task.result."""
    return '<value>%s</value>' % xml.sax.saxutils.escape(text)


class _Task(object):
    def __init__(self, label, description=''):
        self.ref = _ref()
        self.uuid = str(uuid.uuid4())
        self.record = {'uuid': self.uuid, 'name_label': label,
                       'name_description': description,
                       'status': 'pending', 'progress': 0.0,
                       'result': '', 'error_info': []}
        self.proc = None
        self.cancel_requested = threading.Event()
        # A plugin call ignores task.cancel (it never polls for it).
        self.cancellable = True
        # task.destroy of a running task is done when it completes.
        self.on_completion = None

    def _completed(self):
        if self.on_completion is not None:
            self.on_completion(self)

    def succeed(self, result):
        if self.record['status'] == 'pending':
            self.record.update(status='success', result=result,
                               progress=1.0)
            self._completed()

    def fail(self, *description):
        if self.record['status'] in ('pending', 'cancelling'):
            self.record.update(status='failure', progress=1.0,
                               error_info=[str(d) for d in description])
            self._completed()


class _Host(object):
    """One host of the pool: its XAPI endpoint, certificate and dom0."""

    def __init__(self, sim, n, address, port):
        self.ref = _ref()
        self.address = address
        self.root = os.path.join(sim.base, 'dom0-%d' % n)
        self.plugins_dir = os.path.join(self.root, 'etc', 'xapi.d',
                                        'plugins')
        os.makedirs(self.plugins_dir)
        dom0tools.install(self.root)
        if sim.install_plugin:
            dom0.install(self.plugins_dir, sim.python)
        self.record = {'uuid': str(uuid.uuid4()),
                       'hostname': 'xs-sim-%d' % n,
                       'name_label': 'xs-sim-%d' % n, 'address': address,
                       'software_version': {'product_brand': 'XCP-ng',
                                            'product_version': '8.3.0',
                                            'platform_version': '3.4.0'}}
        self.server = _Server((address, port), sim, self)
        self.port = self.server.server_address[1]
        self.certificate = None
        if sim.scheme == 'https':
            # Each host makes its own self-signed certificate at install
            # (gencert), valid for its name and address.
            self.certificate = xtls.ServerCertificate.ephemeral(
                self.record['hostname'], (address,))
            self.server.socket = self.certificate.context.wrap_socket(
                self.server.socket, server_side=True)
        self.netloc = address
        if port != STANDARD_PORTS[sim.scheme]:
            self.netloc += ':%d' % self.port
        self.url = '%s://%s/' % (sim.scheme, self.netloc)
        self.thread = None


def _loopback_block():
    """127.A.B.1, .2, ...: addresses no other simulator of this run uses."""
    rand = random.SystemRandom()
    return '127.%d.%d.' % (rand.randint(1, 254), rand.randint(1, 254))


class XapiSimulator(object):
    """A pool of one or more hosts with one SR. See the module docstring.

    :param base: an empty directory for each dom0's ROOT.
    :param python: interpreter named in the installed plugin's shebang.
    :param members: how many pool members besides the master. A pool
        has every host on XAPI's standard port (443, or 80 without TLS) of
        its own loopback address (127.A.B.1 is the master), as the 302 to a
        member has no port; a single host listens on 127.0.0.1 on any port.
    :param sr_host: index of the host the (local) SR is attached to.
    :param tls: serve HTTPS, each host with its own self-signed
        certificate; ``ca_file`` holds them all (for clients that verify
        them), ``fingerprints`` maps each address to its certificate's.
    :param default_image_format: what ``VDI.create`` makes when
        ``sm_config`` names no type: ``vhd`` (XenServer, XCP-ng 8.2) or
        ``qcow2`` (an XCP-ng 8.3 SR preferring qcow2).
    """

    def __init__(self, base, username='root', password='xenroot',
                 sr_type='ext', sr_size=64 * GiB, python=sys.executable,
                 install_plugin=True, members=0, sr_host=0, tls=False,
                 default_image_format='vhd'):
        self.base = base
        os.makedirs(base, exist_ok=True)
        self.default_image_format = default_image_format
        self.scheme = 'https' if tls else 'http'
        self.username = username
        self.password = password
        self.python = python
        self.install_plugin = install_plugin
        self.faults = {}
        self.lock = threading.RLock()
        self.sessions = set()
        self.tasks = {}
        self.calls = []
        self.cancels = []
        self.import_errors = []
        self.plugin_calls = []
        self.redirects = []
        self.stopping = threading.Event()
        self.hosts = self._listen(members)
        self.master = self.hosts[0]
        self.ca_file = None
        self.fingerprints = {}
        if tls:
            self.ca_file = os.path.join(base, 'xapi-ca.pem')
            with open(self.ca_file, 'wb') as f:
                for host in self.hosts:
                    f.write(host.certificate.cert_pem)
                    self.fingerprints[host.address] = \
                        host.certificate.fingerprint
        self.sr_host = self.hosts[sr_host]
        self.port = self.master.port
        self.url = self.master.url
        self.pool_ref = _ref()
        self.sr_ref = _ref()
        self.pbd_ref = _ref()
        self.sr_uuid = str(uuid.uuid4())
        self.vdis = {}
        self.sr = {'uuid': self.sr_uuid, 'name_label': 'Local storage',
                   'type': sr_type, 'physical_size': str(sr_size),
                   'physical_utilisation': '0', 'PBDs': [self.pbd_ref],
                   'VDIs': []}
        self.sr_dir = os.path.join(self.sr_host.root, 'run', 'sr-mount',
                                   self.sr_uuid)
        os.makedirs(self.sr_dir)

    def _listen(self, members):
        if not members:
            return [_Host(self, 0, '127.0.0.1', 0)]
        port = STANDARD_PORTS[self.scheme]
        for _ in range(20):
            block = _loopback_block()
            hosts = []
            try:
                for n in range(members + 1):
                    hosts.append(_Host(self, n, block + str(n + 1),
                                       hosts[0].port if hosts else port))
                return hosts
            except PermissionError:
                # Not root: one free port for all, named in the redirect.
                port = 0
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
            for host in hosts:
                host.server.server_close()
                shutil.rmtree(host.root)
        raise RuntimeError('no free loopback block for a simulated pool')

    @property
    def root(self):
        """dom0 of the host with the SR."""
        return self.sr_host.root

    # -- life cycle ------------------------------------------------------

    def start(self):
        for host in self.hosts:
            host.thread = threading.Thread(
                target=host.server.serve_forever, daemon=True,
                name='xapi-sim-%s' % host.address)
            host.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        with self.lock:
            tasks = list(self.tasks.values())
        for task in tasks:
            if task.proc is not None and task.proc.poll() is None:
                task.proc.kill()
        for host in self.hosts:
            host.server.shutdown()
            host.server.server_close()

    def remove_plugin(self):
        for host in self.hosts:
            path = os.path.join(host.plugins_dir, dom0.PLUGIN_NAME)
            if os.path.exists(path):
                os.unlink(path)

    def leftovers(self):
        """What a client failed to clean up: sessions, tasks, VDIs, files.

        Sessions and tasks are reported by count; the SR directory must
        hold nothing but the files of VDIs that still exist.
        """
        with self.lock:
            found = []
            if self.sessions:
                found.append('%d session(s)' % len(self.sessions))
            undestroyed = [t.record['name_label'] for t in
                           self.tasks.values() if t.on_completion is None]
            if undestroyed:
                found.append('tasks: %s' % ', '.join(undestroyed))
            if self.vdis:
                found.append('VDIs: %s' % ', '.join(
                    v['uuid'] for v in self.vdis.values()))
            expected = {v['uuid'] + '.vhd' for v in self.vdis.values()}
            extra = sorted(set(os.listdir(self.sr_dir)) - expected)
            if extra:
                found.append('SR files: %s' % ', '.join(extra))
            return found

    def sr_files(self):
        return sorted(os.listdir(self.sr_dir))

    def set_tapdisks(self, lines):
        path = os.path.join(self.root, dom0tools.TAPDISKS)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(''.join(line + '\n' for line in lines))

    # -- XML-RPC dispatch ------------------------------------------------

    def dispatch(self, method, params, host):
        self.calls.append(method)
        try:
            return {'Status': 'Success',
                    'Value': self._call(method, params, host)}
        except Failure as e:
            return {'Status': 'Failure', 'ErrorDescription': e.description}

    def _call(self, method, params, host):
        is_async = method.startswith('Async.')
        name = method[len('Async.'):] if is_async else method
        if name == 'session.login_with_password':
            if host is not self.master:
                raise Failure('HOST_IS_SLAVE', self.master.address)
            return self._login(method, params)
        fn = getattr(self, 'x_' + name.replace('.', '__'), None)
        if fn is None:
            raise Failure('MESSAGE_METHOD_UNKNOWN', method)
        expected = 1 + sum(
            1 for p in inspect.signature(fn).parameters.values()
            if p.default is inspect.Parameter.empty)
        if len(params) != expected:
            raise Failure('MESSAGE_PARAMETER_COUNT_MISMATCH', method,
                          expected, len(params))
        with self.lock:
            if params[0] not in self.sessions:
                raise Failure('SESSION_INVALID', params[0])
        if is_async:
            return self._async(name, fn, params[1:], params[0])
        if name == 'host.call_plugin':
            return self.x_host__call_plugin(*params[1:],
                                            session=params[0])
        with self.lock:
            return fn(*params[1:])

    def _login(self, method, params):
        if len(params) != 4:
            raise Failure('MESSAGE_PARAMETER_COUNT_MISMATCH', method, 4,
                          len(params))
        user, password = params[0], params[1]
        if (user, password) != (self.username, self.password):
            raise Failure('SESSION_AUTHENTICATION_FAILED', user,
                          'Authentication failure')
        ref = _ref()
        with self.lock:
            self.sessions.add(ref)
        return ref

    def _async(self, name, fn, args, session):
        task = self._new_task('Async.%s' % name)
        if name == 'host.call_plugin':
            task.cancellable = False
            target, target_args = self._run_plugin_task, (task, session) + \
                tuple(args)
        else:
            target, target_args = self._run_task, (task, fn, args)
        threading.Thread(target=target, args=target_args,
                         daemon=True).start()
        return task.ref

    def _run_task(self, task, fn, args):
        try:
            with self.lock:
                value = fn(*args)
            task.succeed(_value(value))
        except Failure as e:
            task.fail(*e.description)

    def _new_task(self, label, description=''):
        task = _Task(label, description)
        with self.lock:
            self.tasks[task.ref] = task
        return task

    def _get(self, table, ref, cls):
        if ref not in table:
            raise Failure('HANDLE_INVALID', cls, ref)
        return table[ref]

    # -- session, pool, host ---------------------------------------------

    def x_session__get_this_host(self, session):
        return self.master.ref

    def x_pool__get_all(self):
        return [self.pool_ref]

    def x_pool__get_master(self, pool):
        self._get({self.pool_ref: 1}, pool, 'pool')
        return self.master.ref

    def x_pool__get_default_SR(self, pool):
        self._get({self.pool_ref: 1}, pool, 'pool')
        return self.sr_ref

    def x_host__get_all(self):
        return [h.ref for h in self.hosts]

    def _host(self, ref):
        for host in self.hosts:
            if host.ref == ref:
                return host
        raise Failure('HANDLE_INVALID', 'host', ref)

    def x_host__get_record(self, host):
        return dict(self._host(host).record)

    def x_host__get_address(self, host):
        return self.x_host__get_record(host)['address']

    def x_host__get_hostname(self, host):
        return self.x_host__get_record(host)['hostname']

    def x_host__get_software_version(self, host):
        return self.x_host__get_record(host)['software_version']

    # -- SR, PBD ---------------------------------------------------------

    def x_SR__get_by_uuid(self, sr_uuid):
        if sr_uuid != self.sr_uuid:
            raise Failure('UUID_INVALID', 'SR', sr_uuid)
        return self.sr_ref

    def x_SR__get_record(self, sr):
        self._get({self.sr_ref: 1}, sr, 'SR')
        record = dict(self.sr)
        record['VDIs'] = list(self.vdis)
        record['physical_utilisation'] = str(self._utilisation())
        return record

    def x_SR__get_type(self, sr):
        return self.x_SR__get_record(sr)['type']

    def x_SR__get_PBDs(self, sr):
        return self.x_SR__get_record(sr)['PBDs']

    def x_SR__get_physical_size(self, sr):
        return self.x_SR__get_record(sr)['physical_size']

    def x_SR__get_physical_utilisation(self, sr):
        return self.x_SR__get_record(sr)['physical_utilisation']

    def x_PBD__get_record(self, pbd):
        self._get({self.pbd_ref: 1}, pbd, 'PBD')
        return {'uuid': self.pbd_ref[10:], 'host': self.sr_host.ref,
                'SR': self.sr_ref, 'currently_attached': True,
                'device_config': {}}

    def _utilisation(self):
        # Thin file SRs count what their files hold on disk, not sizes.
        used = 0
        for vdi in self.vdis.values():
            for ext in ('.vhd', '.qcow2'):
                path = os.path.join(self.sr_dir, vdi['uuid'] + ext)
                if os.path.exists(path):
                    used += os.stat(path).st_blocks * 512
        return used

    # -- VDI ---------------------------------------------------------------

    def x_VDI__create(self, record):
        for key in ('SR', 'virtual_size', 'type', 'name_label'):
            if key not in record:
                raise Failure('FIELD_TYPE_ERROR', key)
        self._get({self.sr_ref: 1}, record['SR'], 'SR')
        # FileSR rounds up to whole 2 MiB blocks (at least one) and, being
        # thin, never answers SR_FULL here: space runs out during the
        # import, as ENOSPC that the task reports as VDI_IO_ERROR.
        blocks = -(-int(record['virtual_size']) // tapdisk.BLOCK)
        size = max(1, blocks) * tapdisk.BLOCK
        ref = _ref()
        vdi_uuid = str(uuid.uuid4())
        sm_config = dict(record.get('sm_config') or {})
        if self.faults.get('ignore_sm_config'):
            sm_config = {}
        if sm_config.get('type', self.default_image_format) != 'vhd':
            # XCP-ng 8.3's sm picks the SR's preferred image format when
            # sm_config names no type: a qcow2 file, no VHD.
            with open(os.path.join(self.sr_dir, vdi_uuid + '.qcow2'),
                      'wb') as f:
                f.truncate(size)
        else:
            # FileSR creates the file at once (td-util create vhd).
            tapdisk.TapdiskVdi(os.path.join(self.sr_dir, vdi_uuid + '.vhd'),
                               size).close()
        self.vdis[ref] = {'uuid': vdi_uuid, 'location': vdi_uuid,
                          'virtual_size': str(size),
                          'type': record['type'],
                          'name_label': record['name_label'],
                          'name_description': record.get(
                              'name_description', ''),
                          'other_config': dict(record.get('other_config',
                                                          {})),
                          'sm_config': sm_config, 'in_use': False}
        return ref

    def x_SR__get_VDIs(self, sr):
        return self.x_SR__get_record(sr)['VDIs']

    def x_VDI__get_other_config(self, vdi):
        return dict(self._get(self.vdis, vdi, 'VDI')['other_config'])

    def x_VDI__get_by_name_label(self, label):
        with self.lock:
            return [ref for ref, v in self.vdis.items()
                    if v['name_label'] == label]

    def x_VDI__get_name_description(self, vdi):
        return self._get(self.vdis, vdi, 'VDI')['name_description']

    def x_VDI__get_uuid(self, vdi):
        return self._get(self.vdis, vdi, 'VDI')['uuid']

    def x_VDI__get_virtual_size(self, vdi):
        return self._get(self.vdis, vdi, 'VDI')['virtual_size']

    def x_VDI__get_sm_config(self, vdi):
        return dict(self._get(self.vdis, vdi, 'VDI')['sm_config'])

    def x_VDI__get_location(self, vdi):
        return self._get(self.vdis, vdi, 'VDI')['location']

    def x_VDI__destroy(self, vdi):
        record = self._get(self.vdis, vdi, 'VDI')
        if record['in_use']:
            raise Failure('VDI_IN_USE', vdi, 'destroy')
        for ext in ('.vhd', '.qcow2'):
            path = os.path.join(self.sr_dir, record['uuid'] + ext)
            if os.path.exists(path):
                os.unlink(path)
        del self.vdis[vdi]
        return ''

    def add_vdi(self, size, other_config):
        """A VDI made by someone else (an earlier client, an operator)."""
        with self.lock:
            ref = self.x_VDI__create({'SR': self.sr_ref, 'type': 'user',
                                      'virtual_size': str(size),
                                      'name_label': 'existing',
                                      'other_config': other_config})
            return ref, self.vdis[ref]['uuid']

    def sr_utilisation(self):
        """What the SR's files hold on disk now (physical_utilisation)."""
        with self.lock:
            return self._utilisation()

    def vdi_by_ref_or_uuid(self, value):
        with self.lock:
            if value in self.vdis:
                return value
            for ref, record in self.vdis.items():
                if record['uuid'] == value:
                    return ref
        return None

    # -- tasks -----------------------------------------------------------

    def x_task__create(self, label, description):
        return self._new_task(label, description).ref

    def _task(self, ref):
        return self._get(self.tasks, ref, 'task')

    def x_task__get_status(self, task):
        return self._task(task).record['status']

    def x_task__get_result(self, task):
        return self._task(task).record['result']

    def x_task__get_error_info(self, task):
        return list(self._task(task).record['error_info'])

    def x_task__get_progress(self, task):
        return self._task(task).record['progress']

    def x_task__get_record(self, task):
        return dict(self._task(task).record)

    def x_task__get_by_name_label(self, label):
        with self.lock:
            return [ref for ref, t in self.tasks.items()
                    if t.record['name_label'] == label]

    def x_task__get_name_description(self, task):
        return self._task(task).record['name_description']

    def x_task__cancel(self, task):
        t = self._task(task)
        self.cancels.append(t.record['name_label'])
        if t.record['status'] == 'pending' and t.cancellable:
            t.record['status'] = 'cancelling'
            t.cancel_requested.set()
        return ''

    def x_task__destroy(self, task):
        t = self._task(task)
        if t.record['status'] in ('pending', 'cancelling'):
            # xapi_task.ml: a running task is only marked; it goes away
            # once it completes.
            t.on_completion = self._forget_task
        else:
            del self.tasks[task]
        return ''

    def _forget_task(self, task):
        with self.lock:
            self.tasks.pop(task.ref, None)

    # -- plugins ---------------------------------------------------------

    def x_host__call_plugin(self, host, plugin, fn, args, session=None):
        task = _Task('host.call_plugin')
        self._run_plugin_task(task, session, host, plugin, fn, args)
        if task.record['status'] == 'success':
            return xmlrpc.client.loads(
                '<methodResponse><params><param>%s</param></params>'
                '</methodResponse>' % task.record['result'])[0][0]
        raise Failure(*task.record['error_info'])

    def _run_plugin_task(self, task, session, host, plugin, fn, args):
        # XAPI forwards the call to that host; its dom0 runs the plugin.
        try:
            target = self._host(host)
        except Failure as e:
            return task.fail(*e.description)
        path = os.path.join(target.plugins_dir, plugin)
        if os.sep in plugin or not os.path.isfile(path):
            return task.fail('XENAPI_MISSING_PLUGIN', plugin)
        args = dict(args)
        self.plugin_calls.append((fn, dict(args)))
        if fn == dom0.FN_EXPORT and 'token' in self.faults:
            args['token'] = self.faults['token']
        delay = self.faults.get('plugin_delay', 0) if fn == dom0.FN_EXPORT \
            else 0
        if delay and self.stopping.wait(delay):
            return
        if fn == dom0.FN_EXPORT and self.faults.get('attached'):
            vdi_path = os.path.join(self.sr_dir, args.get('vdi_uuid', '') +
                                    '.vhd')
            self.set_tapdisks(['pid=4242 minor=0 state=0 args=vhd:%s'
                               % vdi_path])
        env = {'PATH': PLUGIN_PATH_ENV, 'PYTHONPATH': xapisim.STUBS_DIR,
               'XENIMAGE_DOM0_TEST_ROOT': target.root,
               'XENIMAGE_SIM_URL': target.url}
        call = xmlrpc.client.dumps((session, args), fn)
        task.proc = subprocess.Popen([path, call], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env,
                                     cwd='/')
        out, err = task.proc.communicate()
        out = out.decode('utf-8', 'replace')
        err = err.decode('utf-8', 'replace')
        code = task.proc.returncode
        if code < 0:
            return task.fail('XENAPI_PLUGIN_FAILURE', 'signal: %d' % -code,
                             out, err)
        if code != 0:
            return task.fail('XENAPI_PLUGIN_FAILURE', 'non-zero exit', out,
                             err)
        try:
            response = xmlrpc.client.loads(out)[0][0]
            status = response['Status']
        except Exception:
            return task.fail('XENAPI_PLUGIN_FAILURE',
                             'failed to parse plugin output', out, err)
        if status != 'Success':
            return task.fail(*response['ErrorDescription'])
        value = response['Value']
        if fn == dom0.FN_EXPORT and 'summary_sha256' in self.faults:
            summary = json.loads(value)
            summary['sha256'] = self.faults['summary_sha256']
            value = json.dumps(summary)
        task.succeed(_value(value))

    # -- import_raw_vdi --------------------------------------------------

    def import_vhd(self, task, vdi, body_path):
        """vhd-tool + tapdisk, simulated: the body -> the VDI's file."""
        with self.lock:
            record = self.vdis[vdi]
            size = int(record['virtual_size'])
            target = os.path.join(self.sr_dir, record['uuid'] + '.vhd')
            free = int(self.sr['physical_size']) - self._utilisation()
        if os.path.getsize(body_path) > free:
            # tapdisk's writes hit ENOSPC in the SR.
            return task.fail('VDI_IO_ERROR', 'Device I/O errors')
        qcow2 = target[:-len('.vhd')] + '.qcow2'
        work = os.path.join(self.sr_dir, '.import-%s.vhd' % record['uuid'])
        vdi_file = tapdisk.TapdiskVdi(work, size)
        try:
            for offset, data in tapdisk.read_stream(body_path, size):
                vdi_file.write(offset, data)
            vdi_file.close()
            if os.path.exists(qcow2):
                # A VDI sm created as qcow2 stays qcow2 (XCP-ng 8.3).
                subprocess.run(['qemu-img', 'convert', '-f', 'vpc', '-O',
                                'qcow2', work, qcow2], check=True,
                               capture_output=True)
            else:
                os.replace(work, target)
        except (tapdisk.Refused, subprocess.CalledProcessError,
                OSError) as e:
            # xapi says no more than this; SMlog would have the reason.
            self.import_errors.append(str(e))
            return task.fail('VDI_IO_ERROR', 'Device I/O errors')
        finally:
            if not vdi_file.file.closed:
                vdi_file.file.close()
            if os.path.exists(work):
                os.unlink(work)
        if self.faults.get('damage_sr_file'):
            with open(target, 'r+b') as f:
                f.seek(-tapdisk.SECTOR, os.SEEK_END)
                f.write(b'garbage!')
        task.succeed(_value(vdi))


class _Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    rpc_paths = ('/', '/RPC2')
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _plain(self, code, text='', headers=()):
        data = text.encode()
        self.send_response(code)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_PUT(self):
        sim = self.server.sim
        url = urllib.parse.urlsplit(self.path)
        if url.path != '/import_raw_vdi':
            return self._plain(404, 'not found')
        query = dict(urllib.parse.parse_qsl(url.query))
        task = None
        if query.get('task_id'):
            with sim.lock:
                task = sim.tasks.get(query['task_id'])
        with sim.lock:
            valid = query.get('session_id') in sim.sessions
        if not valid:
            if task:
                task.fail('SESSION_INVALID', query.get('session_id', ''))
            return self._plain(401, 'Unauthorised')
        fmt = query.get('format', 'raw').lower()
        if fmt not in ('raw', 'vhd', 'tar', 'qcow2'):
            if task:
                task.fail('INTERNAL_ERROR', 'Unknown format %s' % fmt)
            return self._plain(404, 'Unknown format')
        if fmt == 'vhd' and ('chunked' in query
                             or 'Transfer-Encoding' in self.headers):
            if task:
                task.fail('INTERNAL_ERROR', 'Cannot handle chunked VHD')
            return self._plain(404, 'Cannot handle chunked VHD')
        if fmt != 'vhd':
            if task:
                task.fail('INTERNAL_ERROR', 'format %s not simulated' % fmt)
            return self._plain(404, 'format not simulated')
        vdi = sim.vdi_by_ref_or_uuid(query.get('vdi', ''))
        if vdi is None:
            if task:
                task.fail('VDI_MISSING', query.get('vdi', ''))
            return self._plain(400, 'Importing a VHD directly into an SR '
                               'not yet supported')
        if self.server.host is not sim.sr_host:
            # This host cannot see the (local) SR: to the one that can.
            # importexport.ml: scheme and member address, no port.
            location = '%s://%s%s' % (sim.scheme, sim.sr_host.netloc,
                                      self.path)
            sim.redirects.append(location)
            return self._plain(302, '', [('Location', location)])
        length = int(self.headers.get('Content-Length', 0))
        if task is None:
            task = sim._new_task('VDI import')
        # NOTE: xapi sends the answer first, then reads the body.
        self.send_response(200)
        self.send_header('task-id', task.ref)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        with sim.lock:
            sim.vdis[vdi]['in_use'] = True
        body = os.path.join(sim.sr_dir, '.import-%s' % uuid.uuid4())
        try:
            with open(body, 'wb') as f:
                left = length
                while left:
                    data = self.rfile.read(min(left, 1024 * 1024))
                    if not data:
                        break
                    left -= len(data)
                    f.write(data)
                if sim.faults.get('corrupt_upload'):
                    f.seek(0)
                    f.write(b'not a VHD at all')
            if left:
                task.fail('VDI_IO_ERROR', 'Device I/O errors')
            else:
                sim.import_vhd(task, vdi, body)
        finally:
            os.unlink(body)
            with sim.lock:
                if vdi in sim.vdis:
                    sim.vdis[vdi]['in_use'] = False


class _Server(socketserver.ThreadingMixIn, xmlrpc.server.SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sim, host):
        self.sim = sim
        self.host = host
        super().__init__(address, requestHandler=_Handler, logRequests=False,
                         allow_none=True)

    def _dispatch(self, method, params):
        if method == 'session.logout':
            # session.logout(session): no other parameter, as every call.
            if len(params) != 1:
                return {'Status': 'Failure', 'ErrorDescription': [
                    'MESSAGE_PARAMETER_COUNT_MISMATCH', method, '1',
                    str(len(params))]}
            with self.sim.lock:
                self.sim.sessions.discard(params[0])
            return {'Status': 'Success', 'Value': ''}
        return self.sim.dispatch(method, params, self.host)
