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

"""The project's own reading of an upload's first bytes: which format.

Inspection needs a format detector on every Glance release, and the one in
oslo.utils (``imageutils.format_inspector``) exists only from oslo.utils
7.3 (Glance 29, 2024.2) on. This reader always runs; where that module is
installed, inspection asks it too and refuses a file the two name
differently (:mod:`xenimage_import.source.inspect`).

Each format is known by its signature at a fixed offset. A file carrying
the signatures of two disk formats is a polyglot, read as one thing by
qemu and as another by other tools, and is refused. A boot sector or a
partition table inside an ISO (a hybrid ISO) is no such conflict: both
are raw disks to qemu.

A VMDK text descriptor has no signature: qemu takes a text whose first
line that is not a comment reads ``version=1`` (2, 3) for one, and
format_inspector any text naming a ``createType``. Either way its extents
are files named by the uploader, so every such text is refused.
"""

import dataclasses
import typing

from xenimage_import import exception
from xenimage_import.source.formats import qcow2
from xenimage_import.source.formats import vdi
from xenimage_import.source.formats import vhdx
from xenimage_import.source.formats import vmdk
from xenimage_import.vhd import layout as L

# Formats this project refuses, known by their signatures all the same
# (the QED and LUKS specifications, ISO 9660 and ECMA-167 for UDF).
QED_MAGIC = b'QED\x00'
LUKS_MAGIC = b'LUKS\xba\xbe'
ISO_DESCRIPTOR_OFFSET = 32 * 1024                # after 16 2 KiB sectors
ISO_IDENTIFIERS = (b'CD001', b'NSR02', b'NSR03')
MBR_SIGNATURE_OFFSET = 510
MBR_SIGNATURE = b'\x55\xaa'
GPT_SIGNATURE_OFFSET = 512
GPT_SIGNATURE = b'EFI PART'

# Signatures: (name, offset, bytes).
SIGNATURES = (
    ('qcow2', 0, qcow2.MAGIC),
    ('qed', 0, QED_MAGIC),
    ('vmdk', 0, vmdk.VMDK_SPARSE_MAGIC),
    ('vhdx', 0, vhdx.FILE_SIGNATURE),
    ('vhd', 0, L.FOOTER_COOKIE),
    ('luks', 0, LUKS_MAGIC),
    ('vdi', vdi.SIGNATURE_OFFSET, vdi.SIGNATURE),
)
# Raw disks whatever else they hold: a partition table is data to qemu.
RAW_FAMILY = ('raw', 'gpt', 'mbr', 'iso')
HEAD_SIZE = ISO_DESCRIPTOR_OFFSET + 2048
# A text descriptor is read up to 1 MiB by qemu; looked for in files whose
# first sector is text.
DESCRIPTOR_MAX = 1024 * 1024 - 1
_TEXT_PROBE = 512
_DESCRIPTOR_VERSIONS = (b'version=1', b'version=2', b'version=3')
_CREATE_TYPE = b'createtype="'


@dataclasses.dataclass(frozen=True)
class Sniffed(object):
    """What the first bytes say.

    :param name: a format name: a disk format of :data:`SIGNATURES`, or one
        of :data:`RAW_FAMILY`.
    :param virtual_size: the size the header declares, where it declares
        one in its first bytes; None otherwise.
    """

    name: str
    virtual_size: typing.Optional[int] = None


def _iso(head):
    descriptor = head[ISO_DESCRIPTOR_OFFSET + 1:ISO_DESCRIPTOR_OFFSET + 6]
    return descriptor in ISO_IDENTIFIERS


def _raw_kind(head):
    if _iso(head):
        return 'iso'
    if head[GPT_SIGNATURE_OFFSET:GPT_SIGNATURE_OFFSET + 8] == GPT_SIGNATURE:
        return 'gpt'
    if head[MBR_SIGNATURE_OFFSET:MBR_SIGNATURE_OFFSET + 2] == MBR_SIGNATURE:
        return 'mbr'
    return 'raw'


def _size(name, head):
    if name == 'qcow2' and len(head) >= qcow2.HEADER.size:
        return qcow2.HEADER.unpack(head).size
    if name == 'vmdk' and len(head) >= vmdk.VMDK_SPARSE_HEADER.size:
        return vmdk.VMDK_SPARSE_HEADER.unpack(head).capacity * L.SECTOR_SIZE
    if name == 'vdi' and len(head) >= vdi.HEADER_END:
        return vdi.DISK_SIZE.unpack(head[vdi.DISK_SIZE_OFFSET:]).size
    return None


def _is_text(data):
    return all(32 <= c < 127 or c in b'\t\n\r\x0b\x0c' for c in data)


def _first_statement(text):
    for line in text.splitlines():
        line = line.strip(b' \t')
        if line and not line.startswith(b'#'):
            return line
    return b''


def vmdk_descriptor(text):
    """Whether qemu or format_inspector would read ``text`` as a VMDK."""
    return (_first_statement(text) in _DESCRIPTOR_VERSIONS
            or _CREATE_TYPE in text.lower())


def sniff_bytes(head, text=None):
    """Name the format of a file that starts with ``head``.

    :param head: the file's first :data:`HEAD_SIZE` bytes (fewer if the
        file is shorter).
    :param text: its first :data:`DESCRIPTOR_MAX` bytes where its first
        sector is text (:func:`sniff` reads them); ``head`` otherwise.
    :raises exception.UnsafeImage: the signatures of two formats, or a
        VMDK text descriptor.
    """
    if head.startswith(vmdk.VMDK_DESCRIPTOR_MAGIC) or (
            _is_text(head[:_TEXT_PROBE])
            and vmdk_descriptor(head if text is None else text)):
        raise exception.UnsafeImage(
            'refusing vmdk descriptor file: its extents are separate files')
    found = [name for name, offset, magic in SIGNATURES
             if head[offset:offset + len(magic)] == magic]
    if _iso(head):
        found.append('iso')
    if len(found) > 1:
        raise exception.UnsafeImage(
            'refusing a file that is both %s: tools would read it '
            'differently' % ' and '.join(found))
    if not found or found == ['iso']:
        return Sniffed(_raw_kind(head))
    return Sniffed(found[0], _size(found[0], head))


def sniff(path):
    """:func:`sniff_bytes` on the file at ``path``."""
    with open(path, 'rb') as f:
        head = f.read(HEAD_SIZE)
        text = None
        if _is_text(head[:_TEXT_PROBE]):
            f.seek(0)
            text = f.read(DESCRIPTOR_MAX)
    return sniff_bytes(head, text)
