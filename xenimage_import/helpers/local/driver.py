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

"""The ``local`` helper: write the tap VHD on this machine, in one pass.

non-zero blocks (read in place, decoded by qemu-img window by window, or
merged from a snapshot chain) -> seen by the guest inspector -> appended
to the VHD -> tar member -> gzip on all cores; the metadata
goes last into the room reserved for it -> rename into place.
"""

import logging
import os
import time

from xenimage_import import archive
from xenimage_import import exception
from xenimage_import import guest
from xenimage_import import helpers
from xenimage_import import pack
from xenimage_import.source import decode
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

LOG = logging.getLogger(__name__)

PHASE_CONVERT = 'convert'


class _Progress(object):
    """Feed byte counts to a ``progress(phase, done, total)`` callback."""

    def __init__(self, callback, phase, total):
        self.callback = callback
        self.phase = phase
        self.total = total
        self.done = 0
        if callback:
            callback(phase, 0, total)

    def __call__(self, nbytes):
        self.done += nbytes
        self.callback(self.phase, self.done, self.total)


def counter(callback, phase, total):
    """A byte counter feeding ``callback``, or None without one."""
    return _Progress(callback, phase, total) if callback else None


class LocalHelper(helpers.Helper):
    """Convert with the built-in tap VHD writer."""

    name = 'local'

    def convert(self, request):
        start = time.monotonic()
        if request.output not in (helpers.OUTPUT_TARBALL, helpers.OUTPUT_VHD):
            raise ValueError('unknown output %r' % request.output)
        try:
            plan, guest_report = self._convert(request)
        except OSError as e:
            # NOTE: no path in the message: it may reach Glance users.
            raise exception.OutputFailed('conversion failed: %s'
                                         % (e.strerror or e))
        return helpers.ConversionResult(
            helper=self.name,
            source_format=request.source.format,
            requested_size=request.source.virtual_size,
            virtual_size=plan.size,
            blocks_total=plan.entries,
            blocks_stored=len(plan.blocks),
            vhd_size=plan.file_size,
            output_size=os.stat(request.destination).st_size,
            seconds=time.monotonic() - start,
            guest=guest_report)

    def _convert(self, request):
        tarball = request.output == helpers.OUTPUT_TARBALL
        with decode.open_image(request.source,
                               request.python_exec) as image:
            plan = writer.TapVhdPlan(image.size)
            identity = writer.new_identity()
            inspector = guest.GuestInspector(image.size, L.BLOCK_SIZE)
            progress = counter(request.progress, PHASE_CONVERT,
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
        return plan, inspector.report()
