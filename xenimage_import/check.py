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

For a tarball: the one shape :mod:`xenimage_import.archive` accepts (one
gzip member, one plain header for ``0.vhd``, zero blocks to the end), then
every VHD check of :mod:`xenimage_import.vhd.reader`. Everything is
streamed; nothing is extracted to disk.
"""

import dataclasses
import os

from xenimage_import import archive
from xenimage_import import exception
from xenimage_import import regular
from xenimage_import.vhd import chain
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader


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


def check_tarball_stream(fileobj, path='-', max_member_size=None):
    """Check a gzipped tarball read from ``fileobj``.

    :param max_member_size: refuse a ``0.vhd`` declared larger than this
        before reading it (the caller's expansion budget).
    :raises exception.Unreadable: the gzip stream is damaged.
    """
    report = CheckReport(path=path, kind='tarball')
    gz = archive.GzipMemberReader(fileobj)
    try:
        size = archive.read_header(gz, max_member_size)
        report.members.append(archive.VHD_MEMBER)
        member = archive.MemberReader(gz, size)
        try:
            report.vhd = reader.validate_vhd(member, size)
        except exception.TruncatedVhd as e:
            raise exception.ArchiveError('0.vhd is truncated: %s' % e)
        member.drain()
        archive.check_end(gz, size)
    except exception.Unreadable:
        raise
    except exception.ArchiveError as e:
        report.problems.append(reader.Problem('tar.format', str(e)))
    return report


def check_chain_stream(fileobj, path='-'):
    """Check a tarball that is re-written, read from ``fileobj``.

    A snapshot chain, or a tarball the converter re-packs: bare (not
    gzipped) or with sparse members. Each layer is validated as it
    streams past and the links are checked as the converter checks them;
    such a tarball is never a valid image as it is, but it is one that
    xenimage-convert and the plugin re-pack or flatten.
    """
    report = CheckReport(path=path, kind='chain')
    layers = {}
    sparse = []
    stream, gzipped = archive.open_stream(fileobj)
    try:
        for name, member in archive.read_chain(stream, float('inf')):
            report.members.append(name)
            if member.sparse:
                sparse.append(name)
            if name != archive.SWAP_MEMBER:
                vhd = reader.validate_vhd(member, member.size,
                                          role=reader.CHAIN_PARENT)
                for problem in vhd.problems:
                    report.problems.append(reader.Problem(
                        problem.check, '%s: %s' % (name, problem.message)))
                layers[name] = vhd
            member.drain()
        if report.problems:
            return report
        names = chain.order(layers)
        chain.check_links([chain.Layer(n, '', layers[n].footer,
                                       layers[n].header, None, b'')
                           for n in names])
        report.vhd = layers[names[0]]
        if len(names) == 1:
            why = []
            if not gzipped:
                why.append('the tarball is not gzipped (Nova\'s dom0 '
                           'plugin runs tar -zx)')
            if sparse:
                why.append('%s is stored as a GNU sparse member, which tar '
                           'readers extract differently' % names[0])
            verdict = ('%s: xenimage-convert and the Glance plugin re-pack '
                       'it' % ('; '.join(why) or 'a snapshot tarball of one '
                               'VHD (%s)' % names[0]))
        else:
            verdict = ('a snapshot chain of %d VHDs (%s, leaf first): '
                       'xenimage-convert and the Glance plugin flatten it '
                       'into one tap VHD' % (len(names), ', '.join(names)))
        report.problems.append(reader.Problem('tar.chain', verdict))
    except exception.TruncatedVhd as e:
        report.problems.append(reader.Problem('tar.format', str(e)))
    except exception.Unreadable:
        raise
    except exception.XenImageError as e:
        report.problems.append(reader.Problem('tar.chain', str(e)))
    return report


def check_vhd_file(path):
    size = os.stat(path).st_size
    report = CheckReport(path=path, kind='vhd')
    with open(path, 'rb') as f:
        report.vhd = reader.validate_vhd(f, size)
    return report


def written_virtual_size(path):
    """The virtual size an output declares, read back from its first footer.

    Every VHD written here is dynamic, and a dynamic VHD starts with a copy
    of its footer, so a tarball's ``0.vhd`` is decompressed only that far.
    """
    with open(path, 'rb') as f:
        stream = f
        if f.read(2) == archive.GZIP_MAGIC:
            f.seek(0)
            stream = archive.GzipMemberReader(f)
            stream = archive.MemberReader(stream, archive.read_header(stream))
        else:
            f.seek(0)
        footer = reader.parse_footer(archive.read_exactly(
            stream, L.FOOTER_SIZE, 'the VHD footer'))
    if footer is None:
        raise exception.OutputFailed('the VHD written has no footer')
    return footer.current_size


def check_path(path):
    """Check ``path``, a ``.tgz`` tarball or a bare VHD (sniffed).

    :raises exception.Unreadable: the file cannot be read at all.
    """
    try:
        with regular.open_file(path) as f:
            kind = archive.container(f.read(archive.TAR_BLOCK))
            f.seek(0)
            if kind == archive.BARE_TAR:
                return check_chain_stream(f, path)
            if kind == 'gzip':
                report = check_tarball_stream(f, path)
                if report.valid or not any(p.check == 'tar.format'
                                           for p in report.problems):
                    return report
                # Not the one-VHD shape: perhaps a snapshot chain.
                f.seek(0)
                chained = check_chain_stream(f, path)
                snapshot = len(chained.members) > 1 or (
                    chained.vhd is not None and len(chained.problems) == 1)
                return chained if snapshot else report
        return check_vhd_file(path)
    except OSError as e:
        raise exception.Unreadable('%s: %s' % (path, e.strerror or e))
    except (exception.TruncatedVhd, exception.InvalidImage) as e:
        raise exception.Unreadable('%s: %s' % (path, e))
