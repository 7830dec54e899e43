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

"""Pre-flight checks of every configured XenServer host, before real work.

The checklist of doc/source/xenserver-helper.rst, run for each entry of
``[xenimage_xenserver] hosts``: XAPI login (credentials, and the trust of
the certificate of every host it reaches), the SR (a file SR, attached),
the certificate of the host serving the SR (where ``import_raw_vdi``
redirects to), free space against ``sr_free_space_margin``, the dom0
plugin's version, and dom0 reaching this node's receiver (the plugin's
``probe``). Nothing is created on the hosts. A check that cannot run
because an earlier one failed is reported as skipped.
"""

import os
import tempfile
import urllib.parse

from oslo_utils import units

from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers.xenserver import dom0
from xenimage_import.helpers.xenserver import endpoint
from xenimage_import.helpers.xenserver import hosts
from xenimage_import.helpers.xenserver import pool as pool_mod

OK, FAILED, SKIPPED = (helpers.CHECK_OK, helpers.CHECK_FAILED,
                       helpers.CHECK_SKIPPED)
CHECKS = ('xapi', 'sr', 'trust', 'space', 'plugin', 'receiver')


def run(helper):
    """A PreflightVerdict per configured host, in table order."""
    group = helper.group
    return [_host(helper, host)
            for host in hosts.configured_hosts(group).values()]


def _host(helper, host):
    found = []

    def record(name, status, detail):
        found.append(helpers.PreflightCheck(name, status, detail))
        return status == OK

    def skip_rest(reason):
        for name in CHECKS[len(found):]:
            found.append(helpers.PreflightCheck(name, SKIPPED, reason))

    try:
        session = helper.session(host).login()
    except exception.XenImageError as e:
        record('xapi', FAILED, str(e))
        skip_rest('no XAPI session')
        return helpers.PreflightVerdict(host.name, host.url, found)
    try:
        _checks(helper, session, record, skip_rest)
    finally:
        session.logout()
    return helpers.PreflightVerdict(host.name, host.url, found)


def _checks(helper, session, record, skip_rest):
    group = helper.group
    call = session.call
    master = call('pool.get_master', call('pool.get_all')[0])
    version = call('host.get_software_version', master)
    record('xapi', OK, 'logged in at %s (%s %s)' % (
        session.url, version.get('product_brand', '?'),
        version.get('product_version', '?')))
    try:
        pool = pool_mod.Pool(session, group.sr_uuid)
    except exception.XenImageError as e:
        record('sr', FAILED, str(e))
        return skip_rest('no usable SR')
    record('sr', OK, '%s (%s), type %s, attached to %s' % (
        pool.record.get('name_label'), pool.sr_uuid, pool.sr_type,
        call('host.get_hostname', pool.host)))
    record(*_trust(session, pool, master))
    # The sweep a conversion runs at its start: what only a killed process
    # leaves is gone before the space is judged.
    swept = pool.destroy_orphans(group)
    margin = group.sr_free_space_margin * units.Mi
    free = pool.free_space()
    if free > margin:
        record('space', OK, '%s free, sr_free_space_margin %s; an image '
               'needs about its VHD\'s size on top%s' % (
                   exception.human_size(free), exception.human_size(margin),
                   _swept(swept)))
    else:
        record('space', FAILED, '%s free, below sr_free_space_margin %s: '
               'free space on SR %s (remove unused VDIs: xe vdi-list '
               'sr-uuid=%s), point sr_uuid at a file SR with room, or '
               'lower [xenimage_xenserver] sr_free_space_margin%s' % (
                   exception.human_size(free), exception.human_size(margin),
                   pool.sr_uuid, pool.sr_uuid, _swept(swept)))
    try:
        pool.check_plugin()
    except exception.XenImageError as e:
        record('plugin', FAILED, str(e))
        return skip_rest('no dom0 plugin to ask')
    record('plugin', OK, '%s answers, compatible' % dom0.PLUGIN_NAME)
    record(*_receiver(helper, session, pool))


def _trust(session, pool, master):
    """TLS to the host serving the SR: where import_raw_vdi goes."""
    parts = urllib.parse.urlsplit(session.url)
    if parts.scheme != 'https':
        return ('trust', OK, 'XAPI over plain HTTP: no certificate to '
                'check (credentials travel in clear)')
    if pool.host == master:
        address, port = parts.hostname, parts.port or 443
    else:
        # xapi's redirect to a member names its address and no port.
        address, port = session.call('host.get_address', pool.host), 443
    try:
        session.trust.connect(address, port, session.timeout).close()
    except exception.XenImageError as e:
        return 'trust', FAILED, str(e)
    except OSError as e:
        return 'trust', FAILED, 'cannot connect to %s:%d: %s' % (
            address, port, e.strerror or e)
    return 'trust', OK, 'certificate of %s (it serves the SR) trusted' % (
        address)


def _receiver(helper, session, pool):
    group = helper.group
    try:
        with tempfile.TemporaryDirectory(prefix='xenimage-preflight-') as d:
            rx = endpoint.open_receiver(group, d, '.preflight.', max_bytes=0)
            try:
                endpoint.probe(session, pool, rx, group)
            finally:
                rx.close()
            if os.listdir(d):
                raise exception.ConversionFailed('the probe sent data')
    except (exception.XenImageError, OSError, ValueError) as e:
        return 'receiver', FAILED, str(e)
    return 'receiver', OK, 'dom0 of %s reached %s and checked its ' \
        'certificate' % (session.call('host.get_hostname', pool.host),
                         rx.address)


def _swept(vdis):
    if not vdis:
        return ''
    return ('; destroyed %d VDI(s) left by conversions that were killed'
            % len(vdis))
