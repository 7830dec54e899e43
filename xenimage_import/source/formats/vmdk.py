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

"""VMDK: only the single-file create types, read as qemu reads them.

Types made of several files, or whose descriptor names other files, make
qemu-img open paths chosen by the uploader: refused whatever the policy
allows.
"""

from xenimage_import import exception
from xenimage_import.source.formats import base
from xenimage_import import structs
from xenimage_import.vhd import layout as L

# VMDK create types held in one file; every other type names extent files
# that qemu-img would open.
SINGLE_FILE_TYPES = ('monolithicSparse', 'streamOptimized')
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


def check_file(path, size, policy):
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


def check_info(specific, policy):
    """qemu-img info's reading: an allowed create type, one extent."""
    create_type = specific.get('create-type')
    if create_type not in policy.vmdk_allowed_types:
        raise exception.UnsafeImage(
            'refusing vmdk of create type %r (allowed: %s)'
            % (create_type, ', '.join(policy.vmdk_allowed_types)
               or 'none'))
    if len(specific.get('extents', [])) > 1:
        raise exception.UnsupportedFormat(
            'multi-file vmdk images are not supported')


FORMAT = base.SourceFormat(
    name='vmdk',
    qemu_name='vmdk',
    read_in_place=True,
    check_file=check_file,
    check_info=check_info,
)
