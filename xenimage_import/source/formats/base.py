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

"""What a source format declares about itself, once."""

import dataclasses
import typing


@dataclasses.dataclass(frozen=True)
class SourceFormat(object):
    """One source format: its names and its own rules.

    :param name: the Glance ``disk_format`` (and the CLI's name).
    :param qemu_name: the qemu-img driver that decodes it.
    :param qemu_check: ``qemu-img check`` can verify its metadata (run
        before conversion: qemu reads clusters past EOF as zeros).
    :param read_in_place: ``qemu-img map`` gives offsets into the upload
        itself, so stored extents are read there instead of decoded.
    :param check_file: ``check_file(path, size, policy)``: the format's
        own header rules, run before qemu-img may touch the file.
    :param check_info: ``check_info(specific, policy)``: rules on the
        format-specific data of ``qemu-img info``.
    :param extents: ``extents(path)``: our own map of the data where
        qemu-img cannot map the format; yields (start, length, offset).
    """

    name: str
    qemu_name: str
    qemu_check: bool = False
    read_in_place: bool = False
    check_file: typing.Optional[typing.Callable] = None
    check_info: typing.Optional[typing.Callable] = None
    extents: typing.Optional[typing.Callable] = None
