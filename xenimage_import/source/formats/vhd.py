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

"""VHD (qemu's ``vpc``): fixed or dynamic, never differencing alone.

A fixed VHD keeps its only footer at the end of the file, where
format_inspector does not look; a dynamic one has a copy at offset 0 that
qemu reads and XenServer does not, so both copies must agree.
"""

from xenimage_import import exception
from xenimage_import.source.formats import base
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader


def has_fixed_footer(path, size):
    if size < 2 * L.FOOTER_SIZE:
        return False
    with open(path, 'rb') as f:
        f.seek(size - L.FOOTER_SIZE)
        raw = f.read(L.FOOTER_SIZE)
    footer = reader.parse_footer(raw)
    return (footer is not None and footer.disk_type == L.DISK_TYPE_FIXED
            and L.checksum_matches(L.FOOTER, raw, footer))


def check_file(path, size, policy=None):
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


FORMAT = base.SourceFormat(
    name='vhd',
    qemu_name='vpc',
    read_in_place=True,
    check_file=check_file,
)
