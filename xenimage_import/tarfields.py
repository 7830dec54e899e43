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

"""Tar blocks and header numbers, read more strictly than any tar reader.

``tarfile`` takes ``+7`` or ``0_7`` where GNU tar does not, so such
values are refused: a field is octal digits then NUL/space padding, or,
where GNU tar writes it for large values, base-256.
"""

import re

from xenimage_import import exception

BLOCK = 512                          # every tar header and data block
BASE256 = 0x80
_OCTAL = re.compile(rb'[0-7]+')


def number(raw, what, base256=False):
    """The value of the numeric field ``raw`` (named ``what`` in errors)."""
    if raw[0] & BASE256:
        if not base256 or raw[0] != BASE256:
            raise exception.ArchiveError(
                'tar header field %s is a negative or '
                'base-256 number' % what)
        return int.from_bytes(raw[1:], 'big')
    digits = raw.rstrip(b'\0 ')
    if not _OCTAL.fullmatch(digits):
        raise exception.ArchiveError(
            'tar header field %s is not an octal number '
            '(%r)' % (what, raw.rstrip(b'\0')[:12]))
    return int(digits, 8)
