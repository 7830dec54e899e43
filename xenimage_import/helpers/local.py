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

"""The ``local`` helper: write the tap VHD on this machine, streaming.

decode (qemu-img, unless raw) -> find the non-zero blocks -> plan the VHD
-> stream it into the tar member -> gzip on all cores -> rename into place.
"""

import os
import time

from oslo_log import log as logging

from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import import pack
from xenimage_import.source import decode
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

LOG = logging.getLogger(__name__)

PHASE_SCAN = 'scan'
PHASE_WRITE = 'write'


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


def _counter(callback, phase, total):
    return _Progress(callback, phase, total) if callback else None


class LocalHelper(helpers.Helper):
    """Convert with the built-in tap VHD writer."""

    name = 'local'

    def convert(self, request):
        start = time.monotonic()
        if request.output not in (helpers.OUTPUT_TARBALL, helpers.OUTPUT_VHD):
            raise ValueError('unknown output %r' % request.output)
        try:
            plan = self._convert(request)
        except OSError as e:
            # NOTE: no path in the message: it may reach Glance users.
            raise exception.ConversionFailed('conversion failed: %s'
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
            seconds=time.monotonic() - start)

    def _convert(self, request):
        source = request.source
        work_dir = request.work_dir or os.path.dirname(
            os.path.abspath(request.destination))
        with decode.open_raw(source, work_dir, request.work_prefix) as image:
            candidates = sum(1 for _ in image.candidate_blocks())
            blocks = image.data_blocks(_counter(
                request.progress, PHASE_SCAN, candidates * L.BLOCK_SIZE))
            plan = writer.TapVhdPlan(image.size, blocks)
            LOG.debug('%s: %d of %d blocks hold data', source.path,
                      len(blocks), plan.entries)
            chunks = writer.iter_tap_vhd(plan, image.read_block)
            progress = _counter(request.progress, PHASE_WRITE,
                                plan.file_size)
            with pack.atomic_output(request.destination,
                                    prefix=request.work_prefix) as out:
                if request.output == helpers.OUTPUT_TARBALL:
                    pack.write_tarball(out, plan.file_size, chunks,
                                       request.level, request.threads,
                                       progress)
                else:
                    pack.write_chunks(out, chunks, progress)
        return plan
