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

"""Decide what an uploaded file is and what must happen to it.

The pipeline's first step (xenimage_import/pipeline.py), so that the
command line and the Glance plugin accept and refuse the same uploads:

* a valid tap tarball passes through unchanged (``PASS_THROUGH``);
* a valid bare tap VHD is packed as it is (``PACK_VHD``);
* any other tarball, gzipped or bare (``tar -cf``), has its VHDs
  extracted and converted (``UNPACK``, then ``CONVERT``);
* any other file is inspected and converted (``CONVERT``).
"""

import dataclasses
import os
import typing

from xenimage_import import archive
from xenimage_import import check
from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import import regular
from xenimage_import.source import inspect
from xenimage_import.source import tarball
from xenimage_import.vhd import chain
from xenimage_import.vhd import layout as L

PASS_THROUGH = 'pass-through'
PACK_VHD = 'pack-vhd'
CONVERT = 'convert'
UNPACK = 'unpack'


@dataclasses.dataclass
class Upload(object):
    """What was found, and the work files to remove when done."""

    path: str
    action: str
    source: typing.Any = None          # inspect.SourceImage
    report: typing.Any = None          # check.CheckReport of a tap input
    work_files: list = dataclasses.field(default_factory=list)

    @property
    def source_format(self):
        return self.source.format if self.source else 'vhd'

    def unpack(self, policy, work_dir, work_prefix=None):
        """Extract and inspect the VHDs of an ``UNPACK`` tarball.

        One stand-alone VHD is inspected like any upload and decoded by
        qemu-img; a snapshot chain is checked link by link and flattened
        by :mod:`xenimage_import.vhd.chain`.
        """
        if self.action != UNPACK:
            return
        members = tarball.extract_chain(
            self.path, work_dir, work_prefix, _disk_limit(self.path, policy),
            os.path.getsize(self.path) * policy.max_expansion_ratio)
        self.work_files.extend(members.values())
        names = chain.order(members)
        if not names:
            raise exception.InvalidImage('the tarball holds no disk, only '
                                         'a swap.vhd')
        leaf = members[names[0]]
        if len(names) == 1 and chain.disk_type(leaf) != \
                L.DISK_TYPE_DIFFERENCING:
            self.source = inspect.inspect_source(leaf, 'vhd', policy)
        else:
            layers = chain.open_chain(members, names)
            inspect.check_size(layers[0].size, policy)
            self.source = inspect.SourceImage(
                path=leaf, format='vhd', virtual_size=layers[0].size,
                file_size=sum(os.path.getsize(p) for p in members.values()),
                detected='vhd-chain', chain=layers)
        self.action = CONVERT

    def cleanup(self):
        for path in self.work_files:
            cleanup.remove(path)
        self.work_files = []


def _archive_kind(path):
    """``'gzip'`` for a gzipped file, ``'tar'`` for a bare tarball."""
    with regular.open_file(path) as f:
        kind = archive.container(f.read(archive.TAR_BLOCK))
    return kind if kind in ('gzip', archive.BARE_TAR) else None


def _disk_limit(path, policy):
    """Most disk bytes a tarball at ``path`` may unpack to.

    The size cap, and the expansion ratio times what was uploaded: every
    path into the store (pass-through included) is held to both.
    """
    return min(policy.max_virtual_size,
               os.path.getsize(path) * policy.max_expansion_ratio)


def examine(path, claimed, policy):
    """Examine the upload at ``path``; return an :class:`Upload`.

    Creates no file: a tarball that must be re-written comes back as
    ``UNPACK``, for :meth:`Upload.unpack` to extract once the caller holds
    its conversion slot.

    :param claimed: the format the uploader gave (a source format, or
        ``auto``); a tarball must be claimed as ``vhd`` or ``auto``.
    :raises: :class:`xenimage_import.exception.XenImageError`.
    """
    kind = _archive_kind(path)
    if kind is None:
        source = inspect.inspect_source(path, claimed, policy)
        if source.format == 'vhd':
            report = check.check_vhd_file(path)
            if report.valid:
                return Upload(path, PACK_VHD, source=source, report=report)
        return Upload(path, CONVERT, source=source)

    if claimed not in ('vhd', 'auto'):
        raise exception.FormatMismatch(claimed, 'a %s archive' % kind)
    if kind == archive.BARE_TAR:
        # Nova's dom0 plugin reads gzipped tarballs only (tar -zx): a bare
        # one is re-written, never stored as it is.
        return Upload(path, UNPACK)
    try:
        with open(path, 'rb') as f:
            report = check.check_tarball_stream(
                f, path, tarball.member_limit(_disk_limit(path, policy)))
    except exception.Unreadable as e:
        raise exception.InvalidImage('unreadable image tarball: %s' % e)
    if report.valid:
        inspect.check_size(report.vhd.virtual_size, policy)
        return Upload(path, PASS_THROUGH, report=report)
    return Upload(path, UNPACK)
