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

"""The expansion budget: what decoding an upload may cost, known up front.

A few MiB of qcow2, VMDK, VHD or VHDX whose table entries all point at one
data cluster decode to as much data as the virtual size allows: minutes
of CPU and a full-size stream for a small upload. Before anything is
decoded, ``qemu-img map`` lists where every allocated extent of the disk
lives in the file (for VHDX, which qemu cannot map, our own reading of its
BAT: :mod:`xenimage_import.source.vhdx`), and the list must be one an
honest image could have:

* stored (uncompressed) extents lie inside the file: data past the end
  is a truncated or damaged upload that qemu would read as zeros;
* stored extents do not share bytes of the file: their total is at most
  the file size, and no stretch of the file is claimed twice (checked on
  a byte map of at most :data:`_MAX_CHUNKS` chunks);
* compressed extents (qcow2, streamOptimized VMDK) decode to at most
  ``max_expansion_ratio`` times the file size.

The map is read as it streams and qemu-img is killed the moment a rule
breaks, so a bomb is refused after a few lines of output, whatever its
virtual size. The result, the indexes of the 2 MiB blocks holding data,
is what the decoder reads: nothing outside the budget is ever decoded.
"""

import array
import contextlib
import dataclasses
import json
import subprocess

from xenimage_import import exception
from xenimage_import.source import qemu
from xenimage_import import structs
from xenimage_import.vhd import layout as L

# At most 16 MiB of map whatever the file size: chunks grow with it.
_MAX_CHUNKS = 16 * 1024 * 1024
_MIN_CHUNK = 512


class _FileClaims(object):
    """Which chunks of the file stored extents have claimed so far.

    Only chunks an extent covers whole are marked, so two honest extents
    sharing a chunk at their ends never collide; what sharing hides in
    partial chunks is bounded by the total-size rule.
    """

    def __init__(self, file_size):
        self.chunk = max(_MIN_CHUNK, structs.ceil_div(file_size,
                                                      _MAX_CHUNKS))
        self.claimed = bytearray(structs.ceil_div(file_size, self.chunk))

    def claim(self, offset, length):
        """Mark the chunks of one extent; False if one was claimed."""
        first = structs.ceil_div(offset, self.chunk)
        end = (offset + length) // self.chunk
        if end <= first:
            return True
        if self.claimed.find(1, first, end) != -1:
            return False
        self.claimed[first:end] = b'\x01' * (end - first)
        return True


class Budget(object):
    """Judge extents one at a time; raise as soon as one breaks a rule."""

    def __init__(self, fmt, file_size, max_expansion_ratio):
        self.fmt = fmt
        self.file_size = file_size
        self.compressed_limit = file_size * max_expansion_ratio
        self.stored = 0
        self.compressed = 0
        self._claims = _FileClaims(file_size)

    def add(self, start, length, offset=None):
        if offset is None:
            self.compressed += length
            if self.compressed > self.compressed_limit:
                raise exception.UnsafeImage(
                    'refusing %s image: its compressed data would decode '
                    'to more than %d bytes, %d times the %d uploaded '
                    '(expansion budget, max_expansion_ratio)'
                    % (self.fmt, self.compressed_limit,
                       self.compressed_limit // max(self.file_size, 1),
                       self.file_size))
            return
        if offset < 0 or offset + length > self.file_size:
            raise exception.InvalidImage(
                '%s image is truncated or damaged: disk bytes %d-%d are '
                'mapped to file bytes %d-%d, past its end (%d bytes)'
                % (self.fmt, start, start + length, offset,
                   offset + length, self.file_size))
        self.stored += length
        if self.stored > self.file_size or not self._claims.claim(offset,
                                                                  length):
            raise exception.UnsafeImage(
                'refusing %s image: its tables map disk bytes %d-%d onto '
                'file bytes already used by other disk bytes (expansion '
                'budget: entries may not share data)'
                % (self.fmt, start, start + length))


class _Blocks(object):
    """Ascending indexes of the 2 MiB blocks that extents touch."""

    def __init__(self):
        self.indexes = array.array('I')

    def add(self, start, length):
        first = start // L.BLOCK_SIZE
        end = structs.ceil_div(start + length, L.BLOCK_SIZE)
        if self.indexes and self.indexes[-1] >= first:
            first = self.indexes[-1] + 1
        self.indexes.extend(range(first, end))


@dataclasses.dataclass
class Allocation(object):
    """Where an image's data lives, judged within the budget."""

    # Ascending indexes of the 2 MiB blocks holding data (4 bytes each).
    blocks: array.array
    # Every data extent is stored as it is at a file offset qemu-img map
    # gave: the image can be read in place, without decoding.
    in_place: bool


def qemu_extents(path, qemu_format, error):
    """Yield ``(start, length, offset)`` for each data extent qemu-img maps.

    ``offset`` is where the extent's bytes are stored in the file, or None
    when they are not stored as they are (compressed). The map is read as
    it streams; closing the generator kills qemu-img.
    """
    with qemu.Child(('map', '-f', qemu_format, '--output=json', path),
                    qemu.INSPECTION_LIMITS, reads=[path],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE) as child:
        for line in child.proc.stdout:
            line = line.strip().lstrip('[').rstrip(',]')
            if not line:
                continue
            try:
                extent = json.loads(line)
                start, length = int(extent['start']), int(extent['length'])
                offset = extent.get('offset')
                offset = None if offset is None else int(offset)
            except (ValueError, KeyError, TypeError) as e:
                raise exception.InvalidImage('%s: unexpected output (%s)'
                                             % (error, e))
            if extent.get('data') and not extent.get('zero'):
                yield start, length, offset
        err = child.proc.stderr.read()
        child.proc.wait()
    child.check(err, [path], error, exception.InvalidImage)


def judged_extents(path, fmt, file_size, policy):
    """The data extents of the image, each judged before it is yielded.

    :param fmt: the :class:`formats.base.SourceFormat`.
    """
    budget = Budget(fmt.name, file_size, policy.max_expansion_ratio)
    if fmt.extents:
        extents = fmt.extents(path)
    else:
        extents = qemu_extents(path, fmt.qemu_name,
                               'qemu-img could not map the %s image'
                               % fmt.name)
    with contextlib.closing(extents):
        for start, length, offset in extents:
            budget.add(start, length, offset)
            yield start, length, offset


def allocation(path, fmt, file_size, policy):
    """Where the image's data lives, within the budget.

    :raises: UnsafeImage or InvalidImage when the map breaks a rule.
    """
    blocks = _Blocks()
    in_place = fmt.read_in_place
    for start, length, offset in judged_extents(path, fmt, file_size,
                                                policy):
        blocks.add(start, length)
        in_place = in_place and offset is not None
    return Allocation(blocks.indexes, in_place)
