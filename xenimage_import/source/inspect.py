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
the CVE-2024-32498 class): our own parsers look first
(``oslo_utils.imageutils.format_inspector`` detection and ``safety_check``,
plus our VHD footer reader), then ``qemu-img info`` runs with the format
forced and under CPU and address-space limits, and its answer is checked
again. Nothing inside the file (backing files, data files, vmdk extents,
parent locators) is ever followed.
"""

import dataclasses
import json
import logging
import os
import stat
import sys
import typing

from oslo_utils.imageutils import format_inspector
from oslo_utils import units

from xenimage_import import archive
from xenimage_import import exception
from xenimage_import.source import budget
from xenimage_import.source import qemu
from xenimage_import import structs
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader

LOG = logging.getLogger(__name__)

# User-facing format names (Glance disk_format) -> qemu-img driver names.
QEMU_FORMATS = {
    'raw': 'raw',
    'qcow2': 'qcow2',
    'vhd': 'vpc',
    'vmdk': 'vmdk',
    'vhdx': 'vhdx',
    'vdi': 'vdi',
}
SOURCE_FORMATS = tuple(QEMU_FORMATS)
# VMDK create types held in one file; every other type names extent files
# that qemu-img would open.
SINGLE_FILE_VMDK_TYPES = ('monolithicSparse', 'streamOptimized')
# format_inspector names that are plain raw disks to us.
_RAW_ALIASES = {'gpt': 'raw', 'mbr': 'raw'}
_REFUSED = {
    'luks': 'encrypted (LUKS) images cannot be converted',
    'qed': 'QED images are not supported; convert to qcow2 first',
}

# Formats whose metadata ``qemu-img check`` can verify.
_CHECKABLE = ('qcow2', 'vhdx', 'vdi')

VMDK_DESCRIPTOR_MAGIC = b'# Disk DescriptorFile'
VMDK_SPARSE_MAGIC = b'KDMV'
# The start of a VMDK4 sparse header (little-endian; sizes in sectors).
VMDK_SPARSE_HEADER = structs.Layout('VmdkSparseHeader', [
    ('magic', '4s'),
    ('version', 'I'),
    ('flags', 'I'),
    ('capacity', 'Q'),
    ('grain_size', 'Q'),
    ('desc_offset', 'Q'),
    ('desc_size', 'Q'),
], 44, byte_order='<')
# Grain sizes in sectors: VMware and qemu-img write 128 (64 KiB).
VMDK_MIN_GRAIN = 8
VMDK_MAX_GRAIN = 2048
# qemu reads at most 16 MiB of embedded descriptor; we read 1 MiB.
_VMDK_MAX_DESC_SECTORS = 2048


@dataclasses.dataclass(frozen=True)
class Policy(object):
    """What an inspection accepts.

    Its defaults are the only ones: the ``[xenimage_import]`` options take
    theirs from here (xenimage_import/conf.py), and
    :func:`xenimage_import.conf.inspection_policy` builds one from them.
    """

    allowed_formats: tuple = SOURCE_FORMATS
    max_virtual_size: int = 1024 * units.Gi
    vmdk_allowed_types: tuple = SINGLE_FILE_VMDK_TYPES
    allow_iso: bool = False
    max_expansion_ratio: int = 400
    python_exec: str = sys.executable


@dataclasses.dataclass
class SourceImage(object):
    """A file that passed inspection, with what was learned about it."""

    path: str
    format: str           # one of SOURCE_FORMATS
    virtual_size: int
    file_size: int
    detected: str         # format_inspector's name (e.g. 'gpt')
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
        return QEMU_FORMATS[self.format]


def _detect(path):
    """format_inspector's detection and safety check, as one-line errors.

    Its parsers can raise anything on a crafted header (a KeyError for a
    text VMDK descriptor, struct errors): every failure is a refusal.
    """
    try:
        inspector = format_inspector.detect_file_format(path)
    except format_inspector.ImageFormatError as e:
        raise exception.InvalidImage('image format detection failed: %s' % e)
    except Exception as e:
        raise exception.InvalidImage('image format detection failed: '
                                     'malformed header (%s)'
                                     % type(e).__name__)
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
    return inspector


def _inspector_size(inspector):
    try:
        return inspector.virtual_size
    except Exception as e:
        raise exception.InvalidImage('%s image is malformed: its header '
                                     'gives no size (%s)'
                                     % (inspector.NAME, type(e).__name__))


def _has_fixed_vhd_footer(path, size):
    if size < 2 * L.FOOTER_SIZE:
        return False
    with open(path, 'rb') as f:
        f.seek(size - L.FOOTER_SIZE)
        raw = f.read(L.FOOTER_SIZE)
    footer = reader.parse_footer(raw)
    return (footer is not None and footer.disk_type == L.DISK_TYPE_FIXED
            and L.checksum_matches(L.FOOTER, raw, footer))


def _check_vhd_footer(path, size):
    """Refuse VHDs read differently by qemu and XenServer, or damaged.

    qemu takes a dynamic disk's footer from the copy at offset 0, blktap
    from the end of the file: both must be there and identical.
    """
    with open(path, 'rb') as f:
        copy_raw = f.read(L.FOOTER_SIZE)
        f.seek(max(0, size - L.FOOTER_SIZE))
        end_raw = f.read(L.FOOTER_SIZE)
    footer = reader.parse_footer(end_raw)
    copy = reader.parse_footer(copy_raw)
    if footer is None:
        raise exception.InvalidImage(
            'VHD is truncated or damaged: no footer at the end of the file'
            if copy is not None else 'VHD footer not found or damaged')
    if not L.checksum_matches(L.FOOTER, end_raw, footer):
        raise exception.InvalidImage('VHD footer checksum mismatch (the '
                                     'image is damaged)')
    if footer.disk_type == L.DISK_TYPE_DIFFERENCING:
        raise exception.UnsupportedFormat(
            'differencing VHD (it needs a parent image); upload the whole '
            'disk, for example after "vhd-util coalesce" or '
            '"qemu-img convert"')
    if footer.disk_type not in (L.DISK_TYPE_FIXED, L.DISK_TYPE_DYNAMIC):
        raise exception.InvalidImage('VHD disk type %d is unknown'
                                     % footer.disk_type)
    if footer.disk_type == L.DISK_TYPE_DYNAMIC and copy_raw != end_raw:
        raise exception.InvalidImage(
            'the two copies of the VHD footer differ (qemu reads the first, '
            'XenServer the last): the image is damaged')
    footer_offset = size - L.FOOTER_SIZE
    if (footer.disk_type == L.DISK_TYPE_FIXED
            and footer.current_size > footer_offset):
        raise exception.InvalidImage(
            'fixed VHD claims %d bytes but holds %d'
            % (footer.current_size, max(0, footer_offset)))


def _embedded_create_type(desc):
    """createType as qemu reads it: the first, case-sensitive match."""
    at = desc.find(b'createType')
    if at < 0:
        return None
    rest = desc[at + len(b'createType'):].lstrip(b' ')
    if not rest.startswith(b'='):
        return None
    rest = rest[1:].lstrip(b' ').lstrip(b'"')
    value = rest.split(b'"', 1)[0].split(b'\n', 1)[0]
    return value.decode('ascii', 'replace')


def _check_vmdk_header(path, policy):
    """Refuse VMDKs that make qemu open files named inside them.

    qemu follows a descriptor's extent lines when the file is a text
    descriptor, and when a sparse header says capacity 0 (it then opens
    the embedded descriptor as if it were one). format_inspector reads
    the createType case-insensitively where qemu does not, so the two can
    disagree: qemu's reading is checked here, before qemu-img runs.
    """
    with open(path, 'rb') as f:
        raw = f.read(VMDK_SPARSE_HEADER.size)
        if len(raw) < VMDK_SPARSE_HEADER.size:
            raise exception.InvalidImage('vmdk image is truncated')
        header = VMDK_SPARSE_HEADER.unpack(raw)
        if header.magic != VMDK_SPARSE_MAGIC:
            raise exception.UnsafeImage(
                'refusing vmdk descriptor file: its extents are separate '
                'files')
        if header.capacity == 0:
            raise exception.UnsafeImage(
                'refusing vmdk image with capacity 0: qemu would open the '
                'extent files its embedded descriptor names')
        grain = header.grain_size
        if not (VMDK_MIN_GRAIN <= grain <= VMDK_MAX_GRAIN
                and grain & (grain - 1) == 0):
            # qemu-img buffers whole grains: a 64 MiB grain costs it
            # hundreds of MiB per stream.
            raise exception.UnsafeImage(
                'refusing vmdk image with a grain of %d sectors (VMware '
                'writes powers of two from %d to %d)'
                % (grain, VMDK_MIN_GRAIN, VMDK_MAX_GRAIN))
        desc = b''
        if header.desc_offset:
            f.seek(header.desc_offset * L.SECTOR_SIZE)
            desc = f.read(min(header.desc_size, _VMDK_MAX_DESC_SECTORS)
                          * L.SECTOR_SIZE).split(b'\0', 1)[0]
    create_type = _embedded_create_type(desc)
    if create_type is not None and \
            create_type not in policy.vmdk_allowed_types:
        raise exception.UnsafeImage(
            'refusing vmdk of create type %r (allowed: %s)'
            % (create_type[:64], ', '.join(policy.vmdk_allowed_types)
               or 'none'))


def _qemu_img_info(path, qemu_format, policy):
    out, _err = qemu.run(('info', '-f', qemu_format, '--output=json', path),
                         [path], 'qemu-img cannot read the image as %s'
                         % qemu_format, python_exec=policy.python_exec)
    return json.loads(out)


def _qemu_img_check(path, source_format, policy):
    """Refuse damaged metadata.

    qemu reads clusters past EOF as zeros, so a truncated or corrupted
    image would otherwise convert silently into a different disk.
    """
    # Exit 0: clean; 3: leaked clusters only (harmless). 2 is corruption.
    error = '%s image is corrupt or truncated' % source_format
    out, err = qemu.run(('check', '-f', QEMU_FORMATS[source_format],
                         '--output=json', path), [path], error,
                        python_exec=policy.python_exec,
                        check_exit_code=(0, 2, 3))
    try:
        result = json.loads(out)
    except ValueError:
        result = {}
    if not result or result.get('corruptions') or result.get('check-errors'):
        raise exception.InvalidImage('%s: %s' % (
            error, qemu.reason(err, [path]) or 'qemu-img check failed'))


def _check_qemu_info(info, source_format, policy):
    qemu_format = QEMU_FORMATS[source_format]
    if info.get('format') != qemu_format:
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
    if qemu_format == 'vmdk':
        create_type = specific.get('create-type')
        if create_type not in policy.vmdk_allowed_types:
            raise exception.UnsafeImage(
                'refusing vmdk of create type %r (allowed: %s)'
                % (create_type, ', '.join(policy.vmdk_allowed_types)
                   or 'none'))
        if len(specific.get('extents', [])) > 1:
            raise exception.UnsupportedFormat(
                'multi-file vmdk images are not supported')


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
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device would block or never end.
        raise exception.InvalidImage('the image is not a regular file')
    if st.st_size == 0:
        raise exception.ImageTooSmall(0)
    with open(path, 'rb') as f:
        head = f.read(len(VMDK_DESCRIPTOR_MAGIC))
    if head.startswith(archive.GZIP_MAGIC):
        raise exception.UnsupportedFormat(
            'the file is gzip-compressed; only XenServer image tarballs '
            '(claimed as vhd) and single disk image files are converted')
    if head == VMDK_DESCRIPTOR_MAGIC:
        # format_inspector only knows some descriptor layouts; any of them
        # names extent files on the host, so none is ever read, even as raw.
        raise exception.UnsafeImage(
            'refusing vmdk descriptor file: its extents are separate files')

    inspector = _detect(path)
    detected = inspector.NAME
    if detected == 'raw' and _has_fixed_vhd_footer(path, st.st_size):
        # format_inspector looks only at the start of a file; a fixed VHD
        # keeps its only footer at the end.
        detected = 'vhd'
        inspector = None
    if detected in _REFUSED:
        raise exception.UnsupportedFormat(_REFUSED[detected])
    fmt = _RAW_ALIASES.get(detected, detected)
    if fmt == 'iso':
        if not policy.allow_iso:
            raise exception.UnsupportedFormat(
                'ISO images are not converted to VHD (allow_iso is off)')
        fmt = 'raw'
    if fmt not in QEMU_FORMATS:
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

    if fmt == 'vhd':
        _check_vhd_footer(path, st.st_size)
    if fmt == 'vmdk':
        _check_vmdk_header(path, policy)
    if fmt != 'raw' and inspector is not None:
        check_size(_inspector_size(inspector), policy)
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
        info = _qemu_img_info(path, QEMU_FORMATS[fmt], policy)
        _check_qemu_info(info, fmt, policy)
        virtual_size = int(info.get('virtual-size', 0))
    check_size(virtual_size, policy)
    if virtual_size <= 0:
        raise exception.ImageTooSmall(virtual_size)
    if fmt != 'raw':
        if fmt in _CHECKABLE:
            _qemu_img_check(path, fmt, policy)
        allocation = budget.allocation(path, fmt, QEMU_FORMATS[fmt],
                                       file_size, policy)
    LOG.debug('%s: %s image, virtual size %d', path, fmt, virtual_size)
    return SourceImage(path=path, format=fmt, virtual_size=virtual_size,
                       file_size=file_size, detected=detected,
                       data_blocks=allocation and allocation.blocks,
                       in_place=bool(allocation and allocation.in_place))
