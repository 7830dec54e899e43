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

"""qcow2: qemu-img decodes it; uncompressed clusters are read in place.

Before qemu-img may open one, its header must name no other file: a
backing file or an external data file would make qemu read a path the
uploader chose.
"""

from xenimage_import import exception
from xenimage_import.source.formats import base
from xenimage_import import structs

MAGIC = b'QFI\xfb'
VERSIONS = (2, 3)
V2_HEADER_SIZE = 72
# qcow2 specification: the version 2 header, then version 3's fields.
HEADER = structs.Layout('Qcow2Header', [
    ('magic', '4s'), ('version', 'I'), ('backing_file_offset', 'Q'),
    ('backing_file_size', 'I'), ('cluster_bits', 'I'), ('size', 'Q'),
    ('crypt_method', 'I'), ('l1_size', 'I'), ('l1_table_offset', 'Q'),
    ('refcount_table_offset', 'Q'), ('refcount_table_clusters', 'I'),
    ('nb_snapshots', 'I'), ('snapshots_offset', 'Q'),
    ('incompatible_features', 'Q'), ('compatible_features', 'Q'),
    ('autoclear_features', 'Q'), ('refcount_order', 'I'),
    ('header_length', 'I'),
], 104)
INCOMPAT_DATA_FILE = 1 << 2


def check_file(path, size, policy=None):
    """Refuse a header that names another file, or that is unknown."""
    with open(path, 'rb') as f:
        check_header(f.read(HEADER.size))


def check_header(raw):
    """:func:`check_file` on the file's first bytes (at least 104)."""
    if len(raw) < V2_HEADER_SIZE:
        raise exception.InvalidImage('qcow2 image is truncated')
    header = HEADER.unpack(raw[:HEADER.size].ljust(HEADER.size, b'\0'))
    if header.version not in VERSIONS:
        raise exception.InvalidImage('qcow2 version %d is unknown'
                                     % header.version)
    if header.backing_file_offset:
        raise exception.UnsafeImage(
            'refusing qcow2 image with a backing file')
    if header.version > 2 and \
            header.incompatible_features & INCOMPAT_DATA_FILE:
        raise exception.UnsafeImage(
            'refusing qcow2 image with an external data file (data_file)')
    if header.crypt_method:
        raise exception.UnsafeImage('encrypted images cannot be converted')


FORMAT = base.SourceFormat(
    name='qcow2',
    qemu_name='qcow2',
    qemu_check=True,
    read_in_place=True,
    check_file=check_file,
)
