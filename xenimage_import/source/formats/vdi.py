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

"""VirtualBox VDI: qemu-img decodes it; its blocks are read in place."""

from xenimage_import.source.formats import base
from xenimage_import import structs

# VirtualBox's header: a text banner, then the signature 0xbeda107f
# (little-endian) at 0x40; the disk size in bytes at 0x170.
SIGNATURE_OFFSET = 0x40
SIGNATURE = b'\x7f\x10\xda\xbe'
DISK_SIZE_OFFSET = 0x170
DISK_SIZE = structs.Layout('VdiDiskSize', [('size', 'Q')], 8, byte_order='<')
HEADER_END = DISK_SIZE_OFFSET + DISK_SIZE.size

FORMAT = base.SourceFormat(
    name='vdi',
    qemu_name='vdi',
    qemu_check=True,
    read_in_place=True
)
