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

"""The pool as XAPI describes it: the SR and the host that serves it.

The SR must be a file SR (its VDIs are VHD files dom0's plugin can send);
VDIs this helper creates carry a mark in ``other_config``, so the ones a
dead conversion left are found and destroyed later.
"""

import json
import logging
import time

from xenimage_import import exception
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import xapi

LOG = logging.getLogger(__name__)

FILE_SR_TYPES = ('ext', 'nfs')
# other_config of the VDIs this helper creates: the mark and its time.
OTHER_CONFIG_KEY = 'xenimage_import'
OTHER_CONFIG_CREATED = 'xenimage_import_created'
# Past a conversion's longest life (its import and export timeouts), with
# this margin, a marked VDI belongs to no running conversion.
ORPHAN_MARGIN = 600


def orphan_age(group):
    """Seconds after which a conversion's VDI is an orphan."""
    return group.import_timeout + group.export_timeout + ORPHAN_MARGIN


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

    def destroy_orphans(self, group):
        """Destroy VDIs of conversions whose process died; return them.

        Only SIGKILL (or a host that stopped answering) leaves one: every
        other exit destroys its VDI. A VDI counts as an orphan once it is
        older than any conversion may last (:func:`orphan_age`). Run at the
        start of every conversion and by the pre-flight.
        """
        call = self.session.call
        now = time.time()
        max_age = orphan_age(group)
        destroyed = []
        for vdi in call('SR.get_VDIs', self.sr):
            try:
                other = call('VDI.get_other_config', vdi)
                created = int(other.get(OTHER_CONFIG_CREATED, now))
                if OTHER_CONFIG_KEY in other and now - created > max_age:
                    LOG.warning('destroying VDI %s on %s: left by a '
                                'conversion %d s ago', vdi,
                                self.session.name, now - created)
                    call('VDI.destroy', vdi)
                    destroyed.append(vdi)
            except (exception.XenImageError, ValueError) as e:
                LOG.warning('could not check VDI %s on %s: %s', vdi,
                            self.session.name, e)
        if destroyed:
            # The space they held is free now: judged from a fresh record.
            self.record = call('SR.get_record', self.sr)
        return destroyed

    def check_plugin(self):
        """The dom0 plugin answers and speaks our version.

        It runs on the host that holds the SR, which in a pool with a
        local SR is a member, not the master the session is on: a missing
        plugin is reported with that host's address.
        """
        try:
            answer = self.session.call('host.call_plugin', self.host,
                                       dom0.PLUGIN_NAME, dom0.FN_VERSION, {})
        except xapi.XapiError as e:
            if e.code != 'XENAPI_MISSING_PLUGIN':
                raise
            address = self.session.call('host.get_address', self.host)
            raise exception.ConversionFailed(
                'XenServer host %s (it holds SR %s): the dom0 plugin %s is '
                'not installed; install it with: xenimage-dom0-plugin '
                'script | ssh root@%s sh' % (address, self.sr_uuid,
                                             dom0.PLUGIN_NAME, address))
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
