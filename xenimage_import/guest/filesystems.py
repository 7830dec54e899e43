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

"""Name the filesystem that starts with a given head of bytes.

Each signature is judged only when the whole structure it lives in was
captured: a head clipped by the end of the disk or of its partition is
never padded into a match. The signatures are those blkid checks first;
doc/source/reference/guest-inspection.rst lists them.
"""

import struct

SECTOR = 512
HEAD = 4096                       # captured at each partition's start
BTRFS_OFFSET = 64 * 1024          # where btrfs keeps its superblock
BTRFS_MAGIC_END = 72
BOOT_SIGNATURE = b'\x55\xaa'

# ext2/3/4 superblock at 1024: magic at +56, features at +92/+96/+100.
_EXT_SB = 1024
_EXT_SB_SIZE = 1024
_EXT_MAGIC = b'\x53\xef'
_EXT_FEATURES = struct.Struct('<III')
_EXT3_HAS_JOURNAL = 0x4
_EXT4_INCOMPAT = 0x40 | 0x80 | 0x200          # extents, 64bit, flex_bg
_EXT4_RO_COMPAT = 0x8 | 0x20 | 0x40 | 0x400   # huge_file, dir_nlink, ...

_LVM_SECTORS = 4                  # the label sits in one of the first four

LINUX_FILESYSTEMS = ('ext2', 'ext3', 'ext4', 'xfs', 'btrfs')
LINUX_OTHER = ('swap', 'lvm2_pv')
RESIZABLE = ('ext2', 'ext3', 'ext4')


def _ext(head):
    if len(head) < _EXT_SB + _EXT_SB_SIZE or \
            head[_EXT_SB + 56:_EXT_SB + 58] != _EXT_MAGIC:
        return None
    compat, incompat, ro_compat = _EXT_FEATURES.unpack_from(
        head, _EXT_SB + 92)
    if incompat & _EXT4_INCOMPAT or ro_compat & _EXT4_RO_COMPAT:
        return 'ext4'
    return 'ext3' if compat & _EXT3_HAS_JOURNAL else 'ext2'


def _boot_sector(head):
    return len(head) >= SECTOR and head[510:512] == BOOT_SIGNATURE


def name(head, btrfs=b''):
    """Name of what starts with ``head`` (up to 4 KiB), or None.

    :param btrfs: the bytes at +64 KiB, where a btrfs superblock lives.
    """
    head, btrfs = bytes(head), bytes(btrfs)
    if head[3:11] == b'NTFS    ' and _boot_sector(head):
        return 'ntfs'
    if head[3:11] == b'EXFAT   ' and len(head) >= SECTOR:
        return 'exfat'
    if head[:6] == b'LUKS\xba\xbe' and len(head) >= SECTOR:
        return 'luks'
    if head[:4] == b'XFSB' and len(head) >= SECTOR:
        return 'xfs'
    ext = _ext(head)
    if ext:
        return ext
    if len(head) >= HEAD and head[HEAD - 10:HEAD] in (b'SWAPSPACE2',
                                                      b'SWAP-SPACE'):
        return 'swap'
    for offset in range(0, min(len(head), _LVM_SECTORS * SECTOR)
                        - SECTOR + 1, SECTOR):
        label = head[offset:offset + SECTOR]
        if label[:8] == b'LABELONE' and label[24:32] == b'LVM2 001':
            return 'lvm2_pv'
    if len(btrfs) >= BTRFS_MAGIC_END and btrfs[64:72] == b'_BHRfS_M':
        return 'btrfs'
    if _boot_sector(head) and (head[82:87] == b'FAT32'
                               or head[54:59] in (b'FAT12', b'FAT16')):
        return 'vfat'
    return None
