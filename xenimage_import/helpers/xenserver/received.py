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

"""The file dom0 sent: verified, checked, then given the shape asked for.

It must be exactly what the plugin says it sent (size and SHA-256), pass
xenimage-check's rules as the kind asked for (a VHD or a tarball), and be
no smaller than what was imported; then it is packed here, extracted or
moved into place.
"""

import os

from xenimage_import import check
from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import helpers
from xenimage_import.helpers.xenserver import dom0
from xenimage_import import pack
from xenimage_import.source import tarball


def verified(rx, summary, host):
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


def checked(path, size, transfer):
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


def place(path, report, request, work_dir, prefix):
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
    cleanup.discard_path(path)


def _extract(path, destination, work_dir, prefix, vhd_size):
    work = tarball.extract_vhd(path, work_dir, prefix, vhd_size)
    try:
        os.chmod(work, 0o644)
        os.replace(work, destination)
    except BaseException:
        remove(work)
        raise


def remove(path):
    cleanup.remove(path)
