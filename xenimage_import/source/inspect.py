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

"""Decide whether an uploaded file is safe to hand to qemu-img.

The order matters and follows Glance's image_conversion plugin (the fix for
the CVE-2024-32498 class): parsers that are not qemu look first (our own
header reader and format rules, and, where the installed oslo.utils has
it, ``imageutils.format_inspector`` as a second reader that must agree),
then ``qemu-img info`` runs with the format forced and under CPU and
address-space limits, and its answer is checked again. Nothing inside the
file (backing files, data files, vmdk extents, parent locators) is ever
followed.
"""

import dataclasses
import json
import logging
import os
import typing

from oslo_utils import units

from xenimage_import import archive
from xenimage_import import exception
from xenimage_import import regular
from xenimage_import.source import budget
from xenimage_import.source import formats
from xenimage_import.source.formats import vhd
from xenimage_import.source.formats import vmdk
from xenimage_import.source import headers
from xenimage_import.source import qemu
from xenimage_import.vhd import layout as L

try:
    from oslo_utils.imageutils import format_inspector
except ImportError:
    # oslo.utils before 7.3 (Glance before 29): our own reader alone.
    format_inspector = None

LOG = logging.getLogger(__name__)

# Names of plain raw disks.
_RAW_ALIASES = {'gpt': 'raw', 'mbr': 'raw'}
_REFUSED = {
    'luks': 'encrypted (LUKS) images cannot be converted',
    'qed': 'QED images are not supported; convert to qcow2 first',
}


@dataclasses.dataclass(frozen=True)
class Policy(object):
    """What an inspection accepts.

    Its defaults are the only ones: the ``[xenimage_import]`` options take
    theirs from here (xenimage_import/conf.py), and
    :func:`xenimage_import.conf.inspection_policy` builds one from them.
    """

    allowed_formats: tuple = formats.SOURCE_FORMATS
    max_virtual_size: int = 1024 * units.Gi
    vmdk_allowed_types: tuple = vmdk.SINGLE_FILE_TYPES
    allow_iso: bool = False
    max_expansion_ratio: int = 400


@dataclasses.dataclass
class SourceImage(object):
    """A file that passed inspection, with what was learned about it."""

    path: str
    format: str           # one of formats.SOURCE_FORMATS
    virtual_size: int
    file_size: int
    detected: str         # the header reader's name (e.g. 'gpt')
    # Indexes of the 2 MiB blocks holding data, within the expansion
    # budget (None for raw: read in place with SEEK_DATA).
    data_blocks: typing.Any = None
    # Every data extent is stored as it is at a file offset qemu-img map
    # reported: read in place (source/mapped.py) instead of decoded.
    in_place: bool = False
    # The checked layers of a snapshot chain, leaf first (vhd.chain.Layer),
    # read by the project's own chain reader instead of qemu-img.
    chain: typing.Any = None

    @property
    def qemu_format(self):
        return formats.FORMATS[self.format].qemu_name


def _family(name):
    return 'raw' if name in headers.RAW_FAMILY else name


def _detect(path):
    """Name the format, by our reader and format_inspector if installed.

    Where both read the file, they must name the same format, or tools
    would disagree on what it is. format_inspector's parsers can raise
    anything on a crafted header (a KeyError for a text VMDK descriptor,
    struct errors): every failure is a refusal.
    """
    sniffed = headers.sniff(path)
    if format_inspector is None:
        return sniffed
    try:
        inspector = format_inspector.detect_file_format(path)
    except format_inspector.ImageFormatError as e:
        raise exception.InvalidImage('image format detection failed: %s' % e)
    except Exception as e:
        raise exception.InvalidImage('image format detection failed: '
                                     'malformed header (%s)'
                                     % type(e).__name__)
    if _family(inspector.NAME) != _family(sniffed.name):
        raise exception.UnsafeImage(
            'refusing a file read as %s by one format reader and as %s by '
            'another' % (sniffed.name, inspector.NAME))
    try:
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as e:
        reasons = '; '.join('%s' % v for v in e.failures.values())
        raise exception.UnsafeImage(
            'refusing %s image: %s' % (inspector.NAME, reasons or e))
    except Exception as e:
        raise exception.InvalidImage('%s image is malformed: %s'
                                     % (inspector.NAME,
                                        str(e) or type(e).__name__))
    return sniffed


def _qemu_img_info(path, qemu_format, policy):
    out, _err = qemu.run(('info', '-f', qemu_format, '--output=json', path),
                         [path], 'qemu-img cannot read the image as %s'
                         % qemu_format)
    return json.loads(out)


def _qemu_img_check(path, source_format, policy):
    """Refuse damaged metadata.

    qemu reads clusters past EOF as zeros, so a truncated or corrupted
    image would otherwise convert silently into a different disk.
    """
    # Exit 0: clean; 3: leaked clusters only (harmless). 2 is corruption.
    error = '%s image is corrupt or truncated' % source_format
    out, err = qemu.run(('check', '-f',
                         formats.FORMATS[source_format].qemu_name,
                         '--output=json', path), [path], error,
                        check_exit_code=(0, 2, 3))
    try:
        result = json.loads(out)
    except ValueError:
        result = {}
    if not result or result.get('corruptions') or result.get('check-errors'):
        raise exception.InvalidImage('%s: %s' % (
            error, qemu.reason(err, [path]) or 'qemu-img check failed'))


def _check_qemu_info(info, source_format, policy):
    declared = formats.FORMATS[source_format]
    if info.get('format') != declared.qemu_name:
        raise exception.FormatMismatch(source_format, info.get('format'))
    if info.get('backing-filename') or info.get('full-backing-filename'):
        raise exception.UnsafeImage(
            'refusing %s image with a backing file' % source_format)
    specific = info.get('format-specific', {}).get('data', {})
    if specific.get('data-file'):
        raise exception.UnsafeImage(
            'refusing %s image with an external data file' % source_format)
    if info.get('encrypted') or specific.get('encrypt'):
        raise exception.UnsafeImage('encrypted images cannot be converted')
    if declared.check_info:
        declared.check_info(specific, policy)


def check_size(size, policy):
    if size > policy.max_virtual_size:
        raise exception.ImageTooLarge(size, policy.max_virtual_size)
    if size > L.MAX_VHD_SIZE:
        raise exception.ImageTooLarge(size, L.MAX_VHD_SIZE,
                                      'the VHD format limit')


def preinspect(path, claimed='auto', policy=None):
    """Everything decided before qemu-img may touch ``path``.

    Our own parsers only: returns ``(format, detected name, file size)``.
    This is the step the fuzzer (tests/fuzz) drives.
    """
    policy = policy or Policy()
    with regular.open_file(path) as f:
        st = os.fstat(f.fileno())
        head = f.read(archive.TAR_BLOCK)
    if st.st_size == 0:
        raise exception.ImageTooSmall(0)
    kind = archive.container(head)
    if kind:
        raise exception.UnsupportedFormat(
            'the file is %s; only XenServer image tarballs (gzipped or '
            'bare tar, claimed as vhd) and single disk image files are '
            'converted' % ('a tar archive' if kind == archive.BARE_TAR
                           else '%s-compressed' % kind))
    sniffed = _detect(path)
    detected = sniffed.name
    if detected == 'raw' and vhd.has_fixed_footer(path, st.st_size):
        # Header readers look only at the start of a file; a fixed VHD
        # keeps its only footer at the end.
        detected = 'vhd'
    if detected in _REFUSED:
        raise exception.UnsupportedFormat(_REFUSED[detected])
    fmt = _RAW_ALIASES.get(detected, detected)
    if fmt == 'iso':
        if not policy.allow_iso:
            raise exception.UnsupportedFormat(
                'ISO images are not converted to VHD (allow_iso is off)')
        fmt = 'raw'
    if fmt not in formats.FORMATS:
        raise exception.UnsupportedFormat('%s images are not supported'
                                          % detected)
    if claimed not in ('auto', None) and claimed != fmt:
        # An ISO claimed as raw is still raw data.
        if not (claimed == 'raw' and detected == 'iso'):
            raise exception.FormatMismatch(claimed, detected)
    if fmt not in policy.allowed_formats:
        raise exception.UnsupportedFormat(
            '%s is not an allowed source format (allowed: %s)'
            % (fmt, ', '.join(policy.allowed_formats)))

    check_file = formats.FORMATS[fmt].check_file
    if check_file:
        check_file(path, st.st_size, policy)
    if fmt != 'raw' and sniffed.virtual_size is not None:
        check_size(sniffed.virtual_size, policy)
    return fmt, detected, st.st_size


def inspect_source(path, claimed='auto', policy=None):
    """Inspect ``path`` and return a :class:`SourceImage`, or raise.

    :param claimed: the format the uploader says the file is, or ``auto``.
    :raises: a :class:`xenimage_import.exception.XenImageError` subclass
        with a one-line reason.
    """
    policy = policy or Policy()
    # Absolute: qemu-img must never read a name as an option ("-x") or a
    # protocol ("nbd:...", "json:...").
    path = os.path.abspath(path)
    fmt, detected, file_size = preinspect(path, claimed, policy)
    allocation = None
    if fmt == 'raw':
        virtual_size = file_size
    else:
        info = _qemu_img_info(path, formats.FORMATS[fmt].qemu_name, policy)
        _check_qemu_info(info, fmt, policy)
        virtual_size = int(info.get('virtual-size', 0))
    check_size(virtual_size, policy)
    if virtual_size <= 0:
        raise exception.ImageTooSmall(virtual_size)
    if fmt != 'raw':
        if formats.FORMATS[fmt].qemu_check:
            _qemu_img_check(path, fmt, policy)
        allocation = budget.allocation(path, formats.FORMATS[fmt],
                                       file_size, policy)
    LOG.debug('%s: %s image, virtual size %d', path, fmt, virtual_size)
    return SourceImage(path=path, format=fmt, virtual_size=virtual_size,
                       file_size=file_size, detected=detected,
                       data_blocks=allocation and allocation.blocks,
                       in_place=bool(allocation and allocation.in_place))
