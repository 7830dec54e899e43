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

"""The VDI's life on the pool: created, filled, sent back, destroyed.

``VDI.create`` a marked user VDI of the image's virtual size, ``PUT
/import_raw_vdi?format=vhd`` the transport VHD into it, have the dom0
plugin send the SR's ``<vdi-uuid>.vhd`` to this node's receiver, and
destroy the VDI and the XAPI tasks on every path.
"""

import json
import logging
import os
import time

from oslo_utils import units

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import endpoint
from xenimage_import.helpers.xenserver import pool as pool_mod
from xenimage_import.helpers.xenserver import received
from xenimage_import.helpers.xenserver import vdi_import
from xenimage_import.helpers.xenserver import xapi
from xenimage_import import progress as progress_mod

LOG = logging.getLogger(__name__)

PHASE_IMPORT = 'import'
VDI_NAME = 'xenimage_import conversion'
# Largest tarball accepted back: a full VHD of the virtual size, its
# metadata (a bitmap sector per block), and gzip's worst-case growth.
_RECEIVE_SLACK = 64 * 1024 * 1024
_DESTROY_ATTEMPTS = 5


class VdiConversion(object):
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
            endpoint.probe(self.session, self.pool, rx, self.group)
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
        return endpoint.open_receiver(
            self.group, self.work_dir, self.prefix,
            max_bytes=size + size // 64 + _RECEIVE_SLACK)

    def _create_vdi(self, size):
        def record(description):
            return ({
                'name_label': VDI_NAME,
                'name_description': description,
                'SR': self.pool.sr,
                'virtual_size': str(size),
                'type': 'user',
                'sharable': False,
                'read_only': False,
                'xenstore_data': {},
                'other_config': {
                    pool_mod.OTHER_CONFIG_KEY: 'conversion',
                    pool_mod.OTHER_CONFIG_CREATED: str(int(time.time()))},
                # NOTE: XCP-ng 8.3's sm may create a qcow2 VDI when the
                # type is not given; dom0's plugin reads VHD files only.
                'sm_config': {'type': 'vhd'},
                'tags': [],
            },)
        return self.session.create(
            'VDI', VDI_NAME, 'temporary: %s' % os.path.basename(
                self.request.destination), record, 'destroy')

    def _destroy_vdi(self, vdi):
        try:
            self._destroy_vdi_now(vdi)
        finally:
            self.session.done(vdi)

    def _destroy_vdi_now(self, vdi):
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
        task = session.create_task('xenimage_import upload',
                                   'import_raw_vdi of %s' % os.path.basename(
                                       self.request.destination))
        try:
            progress = progress_mod.counter(
                self.request.progress, PHASE_IMPORT,
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
        vdi_uuid = session.call('VDI.get_uuid', vdi)
        with cleanup.signals_deferred():
            task = self._call_export(vdi_uuid, rx)
            # NOTE: XAPI cannot cancel a plugin; it ends when the receiver,
            # in this process, is gone.
            session.undo_on_signal(task, 'task.cancel', 'task.destroy')
        try:
            summary = self._wait_export(task, rx)
        except xapi.XapiError as e:
            if not rx.failure:
                raise
            # What dom0 saw (a broken connection) and why, seen here.
            raise exception.ConversionFailed('%s (receiver: %s)' % (
                e, rx.failure))
        finally:
            session.destroy_task(task)
        return received.verified(rx, summary, session.name)

    def _call_export(self, vdi_uuid, rx):
        group = self.group
        return self.session.call(
            'Async.host.call_plugin', self.pool.host, dom0.PLUGIN_NAME,
            dom0.FN_EXPORT, {
                'sr_uuid': self.pool.sr_uuid,
                'vdi_uuid': vdi_uuid,
                'url': rx.url,
                'token': rx.token,
                'cert_sha256': rx.certificate.fingerprint,
                'timeout': str(group.export_timeout),
                'level': str(group.dom0_compression_level),
                'transfer': group.transfer_format,
            })

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
            if rx.failure:
                return 'upload was refused by the receiver (%s)' % (
                    rx.failure)
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
