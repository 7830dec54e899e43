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

"""The ``xenserver`` helper: the VHD file XenServer's own storage wrote.

The manual procedure, automated over XenAPI:

1. log in to the pool (master), check the SR is a file SR (ext, nfs) and
   that the dom0 plugin answers;
2. write the source as a dynamic VHD (the local writer, as transport) and
   ``VDI.create`` a user VDI of its virtual size;
3. ``PUT /import_raw_vdi?format=vhd`` it into the VDI; the task decides;
4. open a one-shot HTTPS receiver and ``Async.host.call_plugin`` the
   plugin on the host that has the SR: it checks the SR's
   ``<vdi-uuid>.vhd`` with vhd-util and sends it back, as the file itself
   (``transfer_format = vhd``) or as ``0.vhd`` in a tarball it gzips
   (``tgz``);
5. compare size and SHA-256 with what the plugin sent, check it with
   xenimage-check's rules, and pack it here (a VHD) or move it into
   place (a tarball).

The VDI, the XAPI tasks and the session are destroyed on every path; a
wait past its timeout cancels the XAPI task it waits for.
"""

import ipaddress
import json
import logging
import os
import socket
import time

from oslo_config import cfg
from oslo_utils import units

from xenimage_import import check
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers.local import driver as local
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import hosts
from xenimage_import.helpers.xenserver import opts as xs_opts
from xenimage_import.helpers.xenserver import receiver as receiver_mod
from xenimage_import.helpers.xenserver import tls
from xenimage_import.helpers.xenserver import trust
from xenimage_import.helpers.xenserver import vdi_import
from xenimage_import.helpers.xenserver import xapi
from xenimage_import import pack
from xenimage_import.source import tarball
from xenimage_import.vhd import layout as L

LOG = logging.getLogger(__name__)

FILE_SR_TYPES = ('ext', 'nfs')
PHASE_IMPORT = 'import'
VDI_NAME = 'xenimage_import conversion'
# other_config of our VDIs: what they are and when they were made, so a
# conversion whose process died can be found and destroyed later.
OTHER_CONFIG_KEY = 'xenimage_import'
OTHER_CONFIG_CREATED = 'xenimage_import_created'
# A VDI of ours older than the longest conversion plus this is orphaned.
_ORPHAN_MARGIN = 600
# Largest tarball accepted back: a full VHD of the virtual size, its
# metadata (a bitmap sector per block), and gzip's worst-case growth.
_RECEIVE_SLACK = 64 * 1024 * 1024
_DESTROY_ATTEMPTS = 5


class XenServerHelper(helpers.Helper):
    """Convert on a XenServer host; options in ``[xenimage_xenserver]``."""

    name = 'xenserver'

    def __init__(self, conf=None):
        super().__init__(conf if conf is not None else cfg.CONF)
        xs_opts.register_opts(self.conf)
        self.group = self.conf[xs_opts.GROUP]

    def session(self, host):
        """A XapiSession to ``host`` (not logged in yet)."""
        return xapi.XapiSession(host.url, host.username, host.password,
                                name=host.name,
                                timeout=self.group.api_timeout,
                                trust=self._trust())

    def _trust(self):
        try:
            return trust.Trust.from_group(self.group)
        except ValueError as e:
            raise exception.ConversionFailed(
                '[xenimage_xenserver] %s' % e)

    def _choose_host(self):
        found = hosts.candidates(self.conf)
        if len(found) == 1:
            return found[0]

        def free_space(host):
            with self.session(host) as session:
                return Pool(session, self.group.sr_uuid).free_space()

        return hosts.rank(found, free_space)[0]

    def preflight(self):
        from xenimage_import.helpers.xenserver import preflight
        return preflight.run(self)

    def convert(self, request):
        if request.output not in (helpers.OUTPUT_TARBALL, helpers.OUTPUT_VHD):
            raise ValueError('unknown output %r' % request.output)
        size = L.round_up(request.source.virtual_size, L.BLOCK_SIZE)
        if size > L.MAX_VHD_SIZE:
            # Refused before any XAPI call: a VHD SR cannot hold it.
            raise exception.ImageTooLarge(size, L.MAX_VHD_SIZE,
                                          'the VHD SR limit')
        start = time.monotonic()
        # Before any host is asked: a receiver dom0 cannot find is fatal.
        advertised_address(self.group)
        host = self._choose_host()
        LOG.info('converting %s on XenServer host %s', request.source.path,
                 host.name)
        work_dir = os.path.dirname(os.path.abspath(request.destination))
        prefix = request.work_prefix or '.%s.' % os.path.basename(
            request.destination)
        with self.session(host) as session:
            pool = Pool(session, self.group.sr_uuid)
            pool.check_plugin()
            pool.destroy_orphans(self.group.import_timeout +
                                 self.group.export_timeout + _ORPHAN_MARGIN)
            transport = _Transport(request, work_dir, prefix)
            try:
                transport.write()
                received = _Conversion(self.group, session, pool, request,
                                       work_dir, prefix).run(transport)
            finally:
                transport.remove()
        try:
            report = _checked(received.path, transport.size,
                              self.group.transfer_format)
            _place(received.path, report, request, work_dir, prefix)
        finally:
            _remove(received.path)
        return helpers.ConversionResult(
            helper=self.name,
            source_format=request.source.format,
            requested_size=request.source.virtual_size,
            virtual_size=report.vhd.virtual_size,
            blocks_total=report.vhd.blocks_total,
            blocks_stored=report.vhd.blocks_allocated,
            vhd_size=report.vhd.file_size,
            output_size=os.path.getsize(request.destination),
            seconds=time.monotonic() - start,
            guest=transport.guest)


class Pool(object):
    """The SR and the host that serves it, as XAPI describes them."""

    def __init__(self, session, sr_uuid):
        self.session = session
        call = session.call
        self.pool = call('pool.get_all')[0]
        if sr_uuid:
            self.sr = call('SR.get_by_uuid', sr_uuid)
        else:
            self.sr = call('pool.get_default_SR', self.pool)
            if self.sr in ('', 'OpaqueRef:NULL'):
                raise exception.ConversionFailed(
                    'XenServer (host %s): the pool has no default SR; set '
                    '[xenimage_xenserver] sr_uuid' % session.name)
        record = call('SR.get_record', self.sr)
        self.sr_uuid = record['uuid']
        self.sr_type = record['type']
        if self.sr_type not in FILE_SR_TYPES:
            raise exception.ConversionFailed(
                'XenServer (host %s): SR %s is of type %s; the xenserver '
                'helper needs a file SR (%s) whose VDIs are VHD files'
                % (session.name, self.sr_uuid, self.sr_type,
                   ' or '.join(FILE_SR_TYPES)))
        self.record = record
        self.host = self._sr_host()

    def _sr_host(self):
        """A host with the SR attached, the master first (shared SRs)."""
        call = self.session.call
        attached = []
        for pbd in call('SR.get_PBDs', self.sr):
            pbd_record = call('PBD.get_record', pbd)
            if pbd_record['currently_attached']:
                attached.append(pbd_record['host'])
        if not attached:
            raise exception.ConversionFailed(
                'XenServer (host %s): SR %s is not attached to any host'
                % (self.session.name, self.sr_uuid))
        master = call('pool.get_master', self.pool)
        return master if master in attached else attached[0]

    def free_space(self):
        return int(self.record['physical_size']) - int(
            self.record['physical_utilisation'])

    def destroy_orphans(self, max_age):
        """Destroy VDIs of conversions whose process died (too old)."""
        call = self.session.call
        now = time.time()
        for vdi in call('SR.get_VDIs', self.sr):
            try:
                other = call('VDI.get_other_config', vdi)
                created = int(other.get(OTHER_CONFIG_CREATED, now))
                if OTHER_CONFIG_KEY in other and now - created > max_age:
                    LOG.warning('destroying VDI %s on %s: left by a '
                                'conversion %d s ago', vdi,
                                self.session.name, now - created)
                    call('VDI.destroy', vdi)
            except (exception.XenImageError, ValueError) as e:
                LOG.warning('could not check VDI %s on %s: %s', vdi,
                            self.session.name, e)

    def check_plugin(self):
        """The dom0 plugin answers and speaks our version."""
        answer = self.session.call('host.call_plugin', self.host,
                                   dom0.PLUGIN_NAME, dom0.FN_VERSION, {})
        try:
            version = json.loads(answer)['version']
        except (ValueError, KeyError, TypeError):
            version = None
        expected = dom0.plugin_version()
        if version is None or not dom0.compatible(version, expected):
            raise exception.ConversionFailed(
                'XenServer (host %s): dom0 plugin %s is version %s, this '
                'driver needs %s; reinstall it with xenimage-dom0-plugin'
                % (self.session.name, dom0.PLUGIN_NAME, version, expected))


def advertised_address(group):
    """The address dom0 is told to send the tarball to.

    ``receiver_address``, else a specific ``receiver_bind_host``, else this
    node's name, but only when that name resolves to exactly one address
    that is not loopback: dom0 cannot be sent to a guess.

    :raises exception.ConversionFailed: no unambiguous address.
    """
    if group.receiver_address:
        return group.receiver_address
    if group.receiver_bind_host not in ('0.0.0.0', '::', ''):
        return group.receiver_bind_host
    name = socket.getfqdn()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(
            name, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        found = set()
    usable = {a for a in found if not ipaddress.ip_address(
        a.split('%')[0]).is_loopback}
    if len(usable) == 1:
        return name
    raise exception.ConversionFailed(
        'set [xenimage_xenserver] receiver_address to an address dom0 can '
        'reach: this node\'s name %s resolves to %s' % (
            name, ', '.join(sorted(found)) or 'nothing'))


def receiver_certificate(group):
    """The configured receiver certificate, or a fresh self-signed one."""
    if group.receiver_cert_file:
        return tls.ServerCertificate.from_files(group.receiver_cert_file,
                                                group.receiver_key_file)
    return tls.ServerCertificate.ephemeral(advertised_address(group))


def probe(session, pool, rx, group):
    """dom0 of the SR's host opens TLS to ``rx`` and checks its pin.

    Nothing is sent; an unreachable receiver fails here in seconds, with
    what to change, instead of after the import.
    """
    try:
        session.call('host.call_plugin', pool.host, dom0.PLUGIN_NAME,
                     dom0.FN_PROBE, {
                         'url': rx.url,
                         'cert_sha256': rx.certificate.fingerprint,
                         'timeout': str(group.receiver_timeout),
                     })
    except xapi.XapiError as e:
        raise exception.ConversionFailed(
            '%s; dom0 must reach %s (set receiver_address to an address '
            'dom0 can resolve and open receiver_port_range %s in the '
            'firewall)' % (e, rx.address, group.receiver_port_range))


class _Transport(object):
    """The source as a dynamic VHD file, the body of import_raw_vdi."""

    def __init__(self, request, work_dir, prefix):
        self.request = request
        self.path = os.path.join(work_dir, '%s%s.vhd' % (
            prefix, os.urandom(6).hex()))
        self.size = None
        self.guest = None

    def write(self):
        request = self.request
        # NOTE: the local writer's tap VHD is the smallest valid body:
        # unallocated and zero blocks are not sent at all.
        result = local.LocalHelper().convert(helpers.ConversionRequest(
            source=request.source, destination=self.path,
            output=helpers.OUTPUT_VHD, work_prefix=request.work_prefix,
            python_exec=request.python_exec))
        self.size = result.virtual_size
        self.guest = result.guest

    def remove(self):
        _remove(self.path)


class _Conversion(object):
    """Steps 2-5 on one session; destroys what it created."""

    def __init__(self, group, session, pool, request, work_dir, prefix):
        self.group = group
        self.session = session
        self.pool = pool
        self.request = request
        self.work_dir = work_dir
        self.prefix = prefix

    def _check_space(self, transport):
        """Refuse an SR without room for the VHD plus the margin.

        The SR file takes about what the local VHD takes (the same blocks).
        """
        needed = os.path.getsize(transport.path)
        margin = self.group.sr_free_space_margin * units.Mi
        free = self.pool.free_space()
        if free < needed + margin:
            raise exception.ConversionFailed(
                'XenServer (host %s): SR %s (%s) has %s free; the image '
                'needs %s plus a margin of %s (sr_free_space_margin)' % (
                    self.session.name, self.pool.record.get('name_label'),
                    self.pool.sr_uuid, exception.human_size(free),
                    exception.human_size(needed),
                    exception.human_size(margin)))

    def run(self, transport):
        self._check_space(transport)
        rx = self._receiver(transport.size)
        keep = False
        try:
            # Before anything is created: an unreachable receiver fails in
            # seconds, not after the import.
            probe(self.session, self.pool, rx, self.group)
            vdi = self._create_vdi(transport.size)
            try:
                start = time.monotonic()
                self._import(vdi, transport)
                LOG.info('%s: imported into a VDI on %s in %.1f s',
                         self.request.source.path, self.session.name,
                         time.monotonic() - start)
                transport.remove()
                start = time.monotonic()
                received = self._export(vdi, rx)
                LOG.info('%s: dom0 of %s sent %d bytes in %.1f s',
                         self.request.source.path, self.session.name,
                         received.size, time.monotonic() - start)
                keep = True
                return received
            finally:
                self._destroy_vdi(vdi)
        finally:
            rx.close(keep=keep)

    def _receiver(self, size):
        group = self.group
        return receiver_mod.OneShotReceiver(
            self.work_dir, self.prefix, group.receiver_bind_host,
            advertised_address(group),
            xs_opts.port_range(group.receiver_port_range),
            receiver_certificate(group),
            max_bytes=size + size // 64 + _RECEIVE_SLACK)

    def _create_vdi(self, size):
        return self.session.call('VDI.create', {
            'name_label': VDI_NAME,
            'name_description': 'temporary: %s' % os.path.basename(
                self.request.destination),
            'SR': self.pool.sr,
            'virtual_size': str(size),
            'type': 'user',
            'sharable': False,
            'read_only': False,
            'xenstore_data': {},
            'other_config': {OTHER_CONFIG_KEY: 'conversion',
                             OTHER_CONFIG_CREATED: str(int(time.time()))},
            # NOTE: XCP-ng 8.3's sm may create a qcow2 VDI when the type
            # is not given; dom0's plugin reads VHD files only.
            'sm_config': {'type': 'vhd'},
            'tags': [],
        })

    def _destroy_vdi(self, vdi):
        for attempt in range(_DESTROY_ATTEMPTS):
            try:
                self.session.call('VDI.destroy', vdi)
                return
            except xapi.XapiError as e:
                if e.code != 'VDI_IN_USE' or \
                        attempt == _DESTROY_ATTEMPTS - 1:
                    LOG.error('VDI %s left on %s: %s', vdi,
                              self.session.name, e)
                    return
                time.sleep(1 + attempt)
            except exception.XenImageError as e:
                LOG.error('VDI %s left on %s: %s', vdi, self.session.name, e)
                return

    def _import(self, vdi, transport):
        session = self.session
        task = session.call('task.create', 'xenimage_import upload',
                            'import_raw_vdi of %s' % os.path.basename(
                                self.request.destination))
        try:
            progress = local.counter(self.request.progress, PHASE_IMPORT,
                                     os.path.getsize(transport.path))
            try:
                vdi_import.upload_vhd(session, vdi, task, transport.path,
                                      progress)
            except exception.ConversionFailed:
                # The task often knows better why (xapi fails it too).
                if session.call('task.get_status', task) == \
                        xapi.TASK_FAILURE:
                    raise xapi.XapiError(
                        session.call('task.get_error_info', task),
                        session.name)
                raise
            session.wait_task(task, self.group.import_timeout,
                              'the import into the VDI')
        finally:
            session.destroy_task(task)

    def _export(self, vdi, rx):
        session = self.session
        group = self.group
        vdi_uuid = session.call('VDI.get_uuid', vdi)
        task = session.call('Async.host.call_plugin', self.pool.host,
                            dom0.PLUGIN_NAME, dom0.FN_EXPORT, {
                                'sr_uuid': self.pool.sr_uuid,
                                'vdi_uuid': vdi_uuid,
                                'url': rx.url,
                                'token': rx.token,
                                'cert_sha256': rx.certificate.fingerprint,
                                'timeout': str(group.export_timeout),
                                'level': str(group.dom0_compression_level),
                                'transfer': group.transfer_format,
                            })
        try:
            summary = self._wait_export(task, rx)
        except xapi.XapiError as e:
            if not rx.bad_requests:
                raise
            # What dom0 saw (a broken connection) and why, seen here.
            raise exception.ConversionFailed('%s (receiver: %s)' % (
                e, rx.bad_requests[-1][1]))
        finally:
            session.destroy_task(task)
        return _verified(rx, summary, session.name)

    def _wait_export(self, task, rx):
        group = self.group
        started = time.monotonic()

        def stop():
            if not rx.started.is_set() and \
                    time.monotonic() - started > group.receiver_timeout:
                return ('sent nothing to %s within %d s; check that dom0 '
                        'can reach this address (receiver_address, '
                        'receiver_port_range)' % (rx.address,
                                                  group.receiver_timeout))
            if rx.bad_requests and rx.finished and rx.result is None:
                return 'upload was refused by the receiver (%s)' % (
                    rx.bad_requests[-1][1])
            return None

        # NOTE: task.cancel does not stop a plugin: closing the receiver
        # breaks dom0's transfer off, and the plugin's own deadline
        # (export_timeout) ends the rest.
        result = self.session.wait_task(task, group.export_timeout,
                                        'the dom0 export', stop=stop,
                                        abort=rx.close, cancel_wait=0)
        try:
            return json.loads(xapi.task_value(result))
        except (ValueError, TypeError):
            raise exception.ConversionFailed(
                'XenServer (host %s): the dom0 plugin returned %r, not its '
                'JSON summary' % (self.session.name, result[:200]))


def _verified(rx, summary, host):
    """The received file, if it is exactly what the plugin sent."""
    # NOTE: the receiver publishes the file before it answers 201, so the
    # plugin's success means the file is there, if it came from dom0 at all.
    received = rx.result
    if received is None:
        raise exception.ConversionFailed(
            'XenServer (host %s): the dom0 plugin reported success but no '
            'upload arrived' % host)
    if (received.size, received.sha256) != (summary.get('bytes'),
                                            summary.get('sha256')):
        raise exception.ConversionFailed(
            'XenServer (host %s): the tarball received (%d bytes, sha256 '
            '%s) is not what dom0 sent (%s bytes, sha256 %s); discarded'
            % (host, received.size, received.sha256[:16],
               summary.get('bytes'), str(summary.get('sha256'))[:16]))
    return received


def _checked(path, size, transfer):
    """xenimage-check's verdict on what dom0 sent, of the kind asked for."""
    what = 'VHD' if transfer == dom0.TRANSFER_VHD else 'tarball'
    try:
        report = check.check_path(path)
    except exception.Unreadable as e:
        raise exception.InvalidImage('the %s from dom0 is unreadable: %s'
                                     % (what, e))
    if report.kind != ('vhd' if transfer == dom0.TRANSFER_VHD
                       else 'tarball'):
        raise exception.InvalidImage('dom0 sent a %s, not the %s asked for'
                                     % (report.kind, what))
    if not report.valid:
        raise exception.InvalidImage(
            'the %s from dom0 is not a valid XenServer image: %s'
            % (what, report.all_problems()[0].message))
    if report.vhd.virtual_size < size:
        raise exception.InvalidImage(
            'the VHD from dom0 is %d bytes, smaller than the %d imported'
            % (report.vhd.virtual_size, size))
    return report


def _place(path, report, request, work_dir, prefix):
    """What dom0 sent, as the output asked for: moved, packed or extracted."""
    if report.kind == 'vhd':
        if request.output == helpers.OUTPUT_TARBALL:
            # The node's threaded compressor: the work dom0 did not do.
            pack.pack_vhd_file(path, request.destination, request.level,
                               request.threads, work_prefix=prefix)
            return
    elif request.output == helpers.OUTPUT_VHD:
        _extract(path, request.destination, work_dir, prefix,
                 report.vhd.file_size)
        return
    os.chmod(path, 0o644)
    os.replace(path, request.destination)


def _extract(path, destination, work_dir, prefix, vhd_size):
    work = tarball.extract_vhd(path, work_dir, prefix, vhd_size)
    try:
        os.chmod(work, 0o644)
        os.replace(work, destination)
    except BaseException:
        _remove(work)
        raise


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
