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

import logging
import os
import time

from oslo_config import cfg

from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers import tapwrite
from xenimage_import.helpers.xenserver import endpoint
from xenimage_import.helpers.xenserver import hosts
from xenimage_import.helpers.xenserver import opts as xs_opts
from xenimage_import.helpers.xenserver import pool as pool_mod
from xenimage_import.helpers.xenserver import preflight
from xenimage_import.helpers.xenserver import received
from xenimage_import.helpers.xenserver import trust
from xenimage_import.helpers.xenserver import vdi
from xenimage_import.helpers.xenserver import xapi
from xenimage_import.vhd import layout as L
from xenimage_import import workfiles

LOG = logging.getLogger(__name__)


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
                return pool_mod.Pool(session, self.group.sr_uuid).free_space()

        return hosts.rank(found, free_space)[0]

    def preflight(self):
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
        endpoint.advertised_address(self.group)
        host = self._choose_host()
        LOG.info('converting %s on XenServer host %s', request.source.path,
                 host.name)
        work_dir = os.path.dirname(os.path.abspath(request.destination))
        prefix = request.work_prefix or workfiles.destination_prefix(
            request.destination)
        with self.session(host) as session:
            pool = pool_mod.Pool(session, self.group.sr_uuid)
            pool.check_plugin()
            pool.destroy_orphans(self.group)
            transport = _Transport(request, work_dir, prefix)
            try:
                transport.write()
                sent = vdi.VdiConversion(self.group, session, pool, request,
                                         work_dir, prefix).run(transport)
            finally:
                transport.remove()
        try:
            report = received.checked(sent.path, transport.size,
                                      self.group.transfer_format)
            received.place(sent.path, report, request, work_dir, prefix)
        finally:
            received.remove(sent.path)
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


class _Transport(object):
    """The source as a dynamic VHD file, the body of import_raw_vdi."""

    def __init__(self, request, work_dir, prefix):
        self.request = request
        # A name only: the writer renames its output onto it.
        self.path = workfiles.reserve(work_dir, prefix, workfiles.VHD)
        self.size = None
        self.guest = None

    def write(self):
        request = self.request
        # NOTE: the local writer's tap VHD is the smallest valid body:
        # unallocated and zero blocks are not sent at all.
        result = tapwrite.write(helpers.ConversionRequest(
            source=request.source, destination=self.path,
            output=helpers.OUTPUT_VHD, work_prefix=request.work_prefix,
            inspect_guest=request.inspect_guest))
        self.size = result.virtual_size
        self.guest = result.guest

    def remove(self):
        received.remove(self.path)
