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

"""The tap VHD written on this node, in one pass: what both helpers use.

non-zero blocks (read in place, decoded by qemu-img window by window, or
merged from a snapshot chain) -> seen by the guest inspector -> appended
to the VHD -> tar member -> gzip on all cores; the metadata
goes last into the room reserved for it -> rename into place.

The ``local`` helper is this pass; the ``xenserver`` helper uses it to
write the transport VHD it imports into the pool.
"""

import logging
import os
import time

from xenimage_import import archive
from xenimage_import import exception
from xenimage_import.guest import inspector as guest
from xenimage_import import helpers
from xenimage_import import pack
from xenimage_import import progress as progress_mod
from xenimage_import.source import decode
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

LOG = logging.getLogger(__name__)

PHASE_CONVERT = 'convert'


def write(request, helper='local'):
    """Write ``request``'s output with the tap writer; a ConversionResult."""
    start = time.monotonic()
    if request.output not in (helpers.OUTPUT_TARBALL, helpers.OUTPUT_VHD):
        raise ValueError('unknown output %r' % request.output)
    try:
        plan, guest_report = _write(request)
    except OSError as e:
        # NOTE: no path in the message: it may reach Glance users.
        raise exception.OutputFailed('conversion failed: %s'
                                     % (e.strerror or e))
    return helpers.ConversionResult(
        helper=helper,
        source_format=request.source.format,
        requested_size=request.source.virtual_size,
        virtual_size=plan.size,
        blocks_total=plan.entries,
        blocks_stored=len(plan.blocks),
        vhd_size=plan.file_size,
        output_size=os.stat(request.destination).st_size,
        seconds=time.monotonic() - start,
        guest=guest_report)


def _write(request):
    tarball = request.output == helpers.OUTPUT_TARBALL
    with decode.open_image(request.source) as image:
        plan = writer.TapVhdPlan(image.size)
        identity = writer.new_identity()
        inspector = guest.GuestInspector(image.size, L.BLOCK_SIZE) \
            if request.inspect_guest else None
        progress = progress_mod.counter(request.progress, PHASE_CONVERT,
                                        image.candidate_bytes())
        with pack.atomic_output(request.destination,
                                prefix=request.work_prefix) as out:
            if tarball:
                sink = pack.TarballSink(
                    out, archive.TAR_BLOCK + plan.metadata_size,
                    request.level, request.threads)
            else:
                sink = pack.BareSink(out, plan.metadata_size)
            try:
                for block, data in image.data_blocks(progress):
                    if inspector:
                        inspector.feed(block, data)
                    sink.write_block(plan.add(block), data)
                footer = plan.footer(*identity)
                sink.write(footer)
                head = plan.metadata(footer)
                if tarball:
                    sink.write(archive.tar_trailer(plan.file_size))
                    head = archive.tar_header(plan.file_size) + head
                sink.finish(head)
            except BaseException:
                sink.abort()
                raise
    LOG.debug('%s: %d of %d blocks hold data', request.source.path,
              len(plan.blocks), plan.entries)
    return plan, inspector.report() if inspector else None
