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

"""Check an image tarball (or a bare VHD) as XenServer's dom0 side would.

For a tarball: one gzip member, a tar whose only member is the regular
file ``0.vhd`` at the root, then every VHD check of
:mod:`xenimage_import.vhd.reader`. Everything is streamed; nothing is
extracted to disk.
"""

import dataclasses
import os
import tarfile

from isal import isal_zlib

from xenimage_import import pack
from xenimage_import.vhd import reader

_READ_CHUNK = 1024 * 1024
GZIP_WBITS = 16 + isal_zlib.MAX_WBITS


class Unreadable(Exception):
    """The file cannot be read as a gzip stream or a VHD at all."""


@dataclasses.dataclass
class CheckReport(object):
    path: str
    kind: str                      # 'tarball' or 'vhd'
    problems: list = dataclasses.field(default_factory=list)
    vhd: reader.VhdReport = None
    members: list = dataclasses.field(default_factory=list)

    @property
    def valid(self):
        return not self.problems and self.vhd is not None and self.vhd.valid

    def all_problems(self):
        found = list(self.problems)
        if self.vhd is not None:
            found.extend(self.vhd.problems)
        return found

    def as_dict(self):
        vhd = self.vhd
        return {
            'path': self.path,
            'kind': self.kind,
            'valid': self.valid,
            'members': self.members,
            'problems': [{'check': p.check, 'message': p.message}
                         for p in self.all_problems()],
            'vhd': None if vhd is None else {
                'creator': vhd.creator, 'disk_type': vhd.disk_type,
                'virtual_size': vhd.virtual_size, 'file_size': vhd.file_size,
                'blocks_total': vhd.blocks_total,
                'blocks_allocated': vhd.blocks_allocated},
        }


class SingleMemberGzipReader(object):
    """Decompress a gzip stream, noting anything after the first member.

    ``tarfile``'s ``r|gz`` stops after the first member, so a second one
    is data Nova's ``vdi_remote_stream`` path would never see.
    """

    def __init__(self, fileobj):
        self._file = fileobj
        self._inflate = isal_zlib.decompressobj(GZIP_WBITS)
        self.trailing_data = False

    def read(self, size=-1):
        if size is None or size < 0:
            size = _READ_CHUNK
        while not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._file.read(
                _READ_CHUNK)
            if not data:
                raise Unreadable('gzip stream is truncated')
            try:
                out = self._inflate.decompress(data, size)
            except isal_zlib.error as e:
                raise Unreadable('gzip stream is corrupt: %s' % e)
            if out:
                return out
        self._note_trailing()
        return b''

    def _note_trailing(self):
        if self._inflate.unused_data or self._file.read(1):
            self.trailing_data = True

    def drain(self):
        while self.read(_READ_CHUNK):
            pass


def _check_member(report, member):
    fail = report.problems.append
    if member.name not in (pack.VHD_MEMBER, './' + pack.VHD_MEMBER):
        fail(reader.Problem('tar.member_name', 'member %r: the archive must '
                            'hold only 0.vhd at its root' % member.name))
        return False
    if not member.isreg():
        fail(reader.Problem('tar.member_type', '0.vhd is not a regular file '
                            '(%s)' % _TYPES.get(member.type, member.type)))
        return False
    return True


_TYPES = {tarfile.DIRTYPE: 'directory', tarfile.SYMTYPE: 'symlink',
          tarfile.LNKTYPE: 'hard link', tarfile.CHRTYPE: 'character device',
          tarfile.BLKTYPE: 'block device', tarfile.FIFOTYPE: 'fifo'}


def check_tarball_stream(fileobj, path='-'):
    """Check a gzipped tarball read from ``fileobj``."""
    report = CheckReport(path=path, kind='tarball')
    gz = SingleMemberGzipReader(fileobj)
    try:
        archive = tarfile.open(fileobj=gz, mode='r|')
    except tarfile.TarError as e:
        report.problems.append(reader.Problem('tar.format',
                                              'not a tar archive: %s' % e))
        return report
    try:
        for member in archive:
            report.members.append(member.name)
            if len(report.members) > 1:
                report.problems.append(reader.Problem(
                    'tar.members', 'more than one member (%s); XenServer '
                    'images hold exactly 0.vhd' % member.name))
                break
            if _check_member(report, member):
                try:
                    report.vhd = reader.validate_vhd(
                        archive.extractfile(member), member.size)
                except reader.TruncatedVhd as e:
                    report.problems.append(reader.Problem(
                        'tar.truncated', '0.vhd is truncated: %s' % e))
                    return report
        gz.drain()
    except tarfile.TarError as e:
        report.problems.append(reader.Problem('tar.format', str(e)))
        return report
    if not report.members:
        report.problems.append(reader.Problem('tar.members',
                                              'the archive is empty'))
    if gz.trailing_data:
        report.problems.append(reader.Problem(
            'gzip.members', 'data after the first gzip member; Python\'s '
            'tarfile (used by Nova) would not read it'))
    return report


def check_vhd_file(path):
    size = os.stat(path).st_size
    report = CheckReport(path=path, kind='vhd')
    with open(path, 'rb') as f:
        report.vhd = reader.validate_vhd(f, size)
    return report


def check_path(path):
    """Check ``path``, a ``.tgz`` tarball or a bare VHD (sniffed).

    :raises Unreadable: the file cannot be read at all.
    """
    try:
        with open(path, 'rb') as f:
            magic = f.read(2)
            f.seek(0)
            if magic == b'\x1f\x8b':
                return check_tarball_stream(f, path)
        return check_vhd_file(path)
    except OSError as e:
        raise Unreadable('%s: %s' % (path, e.strerror or e))
    except reader.TruncatedVhd as e:
        raise Unreadable('%s: %s' % (path, e))
