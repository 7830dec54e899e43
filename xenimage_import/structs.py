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

"""Fixed-size binary structures with named fields.

Every on-disk structure the project reads or writes (VHD footer and
headers, tar headers) is declared once as a :class:`Layout`, so code names
fields instead of offsets.
"""

import collections
import struct


def ceil_div(value, divisor):
    """``value / divisor`` rounded up, in integers."""
    return -(-value // divisor)


class Layout(object):
    """A named, fixed-size structure (big-endian unless told).

    ``fields`` is a list of ``(name, struct format)``; the structure is zero
    padded up to ``size``. ``offsets`` maps each field to its byte offset so
    that tests and error messages can name where a field lives.
    """

    def __init__(self, name, fields, size, byte_order='>'):
        self.name = name
        self.struct = struct.Struct(byte_order + ''.join(f for _, f in fields))
        if self.struct.size != size:
            raise AssertionError('%s is %d bytes, expected %d'
                                 % (name, self.struct.size, size))
        self.size = size
        self.fields = collections.namedtuple(name, [n for n, _ in fields])
        self.offsets = {}
        offset = 0
        for field, fmt in fields:
            self.offsets[field] = offset
            offset += struct.calcsize(byte_order + fmt)

    def pack(self, record):
        return self.struct.pack(*record)

    def unpack(self, buf):
        return self.fields._make(self.struct.unpack_from(buf))

    def make(self, **values):
        """Build a record, zero/empty for every field not given."""
        defaults = {}
        for name, value in zip(self.fields._fields,
                               self.struct.unpack(bytes(self.size))):
            defaults[name] = value
        defaults.update(values)
        return self.fields(**defaults)
