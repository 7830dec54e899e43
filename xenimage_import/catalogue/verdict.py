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

"""One image of the catalogue judged: can Nova's XenAPI driver boot it?

Five answers (:data:`VERDICTS`): it boots as it is; the plugin can fix
it (a corrected copy through the import API), or already did; it cannot
be converted; or there is nothing to judge (no data). The record decides
where it can (formats, status); otherwise the first bytes of the data,
read with the plugin's own parsers (:mod:`xenimage_import.archive` for a
tarball's first header, the VHD footer and its creator, the format
signatures and the qcow2 header rules). ``--deep`` reads every byte:
the whole tarball through :mod:`xenimage_import.check`, everything
against its checksum.
"""

import dataclasses
import hashlib
import io

from xenimage_import import archive
from xenimage_import import check
from xenimage_import import exception
from xenimage_import import gnusparse
from xenimage_import import publish
from xenimage_import.source import formats
from xenimage_import.source.formats import qcow2
from xenimage_import.source import headers
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import reader

BOOTS = 'boots'
FIXABLE = 'fixable'
NOT_CONVERTIBLE = 'not-convertible'
UNJUDGED = 'unjudged'
# A fixable image whose corrected copy exists and is active.
REPAIRED = 'repaired'
VERDICTS = (BOOTS, FIXABLE, NOT_CONVERTIBLE, UNJUDGED, REPAIRED)

# Statuses whose data can be read (an admin reads a deactivated image).
WITH_DATA = ('active', 'deactivated')
# A tarball's first headers and the start of 0.vhd (its footer copy, or
# another format's signature) sit in its first KiBs; a compressed head
# this long reaches them unless pax records or a directory entry come
# first, when the longer one is read.
HEAD_SIZES = (64 * 1024, 1024 * 1024)
_VHD_HEAD = 4096
_CHUNK = 1024 * 1024
_NOT_DISKS = {
    'iso': 'an ISO is installation media, not a disk: it stays as it '
           'is',
    'aki': 'an EC2 kernel image holds no disk',
    'ari': 'an EC2 ramdisk image holds no disk',
    'ami': 'an EC2 machine image needs its kernel and ramdisk beside it',
}
_CONTAINERS = ('bare', publish.CONTAINER_FORMAT)


@dataclasses.dataclass
class Verdict(object):
    """What the audit says about one image, and why."""

    verdict: str
    reasons: list

    def as_dict(self):
        return {'verdict': self.verdict, 'reasons': list(self.reasons)}


class NeedMore(Exception):
    """The head read does not reach what must be judged."""


def _fixable(*reasons):
    return Verdict(FIXABLE, list(reasons))


def _refused(reason):
    return Verdict(NOT_CONVERTIBLE, [reason])


def is_tarball(image):
    return (image.get('disk_format') == publish.DISK_FORMAT and
            image.get('container_format') == publish.CONTAINER_FORMAT)


def from_record(image):
    """The verdict the record alone gives, or None if the data must tell."""
    status = image.get('status')
    if status not in WITH_DATA:
        return Verdict(UNJUDGED, ['status %s: no data to judge' % status])
    if image.get('size') is None:
        return Verdict(UNJUDGED, ['Glance records no size for its data'])
    if not image['size']:
        return _refused('the image holds no data (0 bytes)')
    disk = image.get('disk_format')
    container = image.get('container_format')
    if disk in _NOT_DISKS:
        return _refused(_NOT_DISKS[disk])
    if disk not in formats.SOURCE_FORMATS:
        return _refused('disk_format %s is not one the plugin converts (%s)'
                        % (disk, ', '.join(formats.SOURCE_FORMATS)))
    if container not in _CONTAINERS:
        return _refused('container_format %s: the plugin reads bare data '
                        'or a vhd/ovf tarball' % container)
    return None


def vm_mode_problems(image):
    """Why Nova would boot this tap image wrongly, from its properties."""
    mode = image.get('vm_mode')
    if not mode:
        if publish.is_windows(image):
            return []           # Nova boots Windows as hvm all the same
        return ['vm_mode is not set: Nova boots it paravirtualised '
                '(xen), which needs a PV kernel']
    canonical = publish.user_vm_mode(image)
    if canonical is None:
        return ['vm_mode %r is not one Nova knows (hvm, xen)' % mode]
    if canonical == 'xen' and publish.is_windows(image):
        return ['os_type windows with vm_mode xen: Windows boots only as '
                'hvm']
    return []


def _tap_vhd(image, footer, what):
    """Verdict on a tarball's or a bare image's VHD, by its footer copy."""
    if footer is None:
        return _fixable('%s has no footer copy at its start (a fixed VHD, '
                        'or no VHD): the plugin rewrites it' % what)
    if footer.disk_type == L.DISK_TYPE_DIFFERENCING:
        return _fixable('%s is a differencing disk (a snapshot chain): '
                        'the plugin flattens it; --deep checks its links'
                        % what)
    creator = footer.creator_application.rstrip(b'\0').decode(
        'ascii', 'replace')
    if footer.creator_application != L.CREATOR_TAP or \
            footer.creator_version != L.TAP_CREATOR_VERSION:
        return _fixable('%s was written by %r, not tap 1.3: XenServer '
                        'cannot resize it' % (what, creator))
    return None


_BARE_TAR = ('a tarball that is not gzipped: Nova\'s dom0 plugin runs tar '
             '-zx; the plugin re-packs it')


def _tarball_head(image, head):
    if archive.container(head) == archive.BARE_TAR:
        return _fixable(_BARE_TAR)
    if not head.startswith(archive.GZIP_MAGIC):
        return _refused('labelled vhd/ovf, but the data is no gzipped '
                        'tarball')
    gz = archive.GzipMemberReader(io.BytesIO(head))
    try:
        name = None
        while name is None:
            block, records = archive.next_header(gz, 'a header')
            if gnusparse.is_sparse(archive.typeflag(block), records):
                return _fixable('a VHD stored as a GNU sparse member, which '
                                'busybox tar extracts differently: the '
                                'plugin re-packs it; --deep reads it as '
                                'the plugin does')
            name, size = archive.parse_chain_header(block, records)
        if name != archive.VHD_MEMBER:
            return _fixable('a snapshot tarball (first member %s): the '
                            'plugin flattens it; --deep checks its links'
                            % name)
        member_head = archive.read_exactly(gz, min(size, _VHD_HEAD),
                                           '0.vhd')
    except exception.Unreadable as e:
        if 'truncated' in str(e):
            raise NeedMore()
        return _refused(str(e))
    except exception.TruncatedVhd:
        raise NeedMore()
    except exception.ArchiveError as e:
        return _refused('the tarball is not one Nova reads alike: %s' % e)
    footer = reader.parse_footer(member_head)
    if footer is None:
        try:
            inside = headers.sniff_bytes(member_head).name
        except exception.UnsafeImage as e:
            return _refused('0.vhd: %s' % e)
        if inside not in headers.RAW_FAMILY:
            return _refused('0.vhd holds a %s image, not a VHD: the plugin '
                            'refuses a mislabelled upload' % inside)
    problem = _tap_vhd(image, footer, '0.vhd')
    if problem:
        return problem
    return _with_vm_mode(image, '0.vhd: tap dynamic VHD (first member '
                                'read; --deep reads every block)')


def _with_vm_mode(image, fine):
    problems = vm_mode_problems(image)
    return _fixable(*problems) if problems else Verdict(BOOTS, [fine])


def _bare_head(image, head):
    declared = image.get('disk_format')
    try:
        found = headers.sniff_bytes(head).name
        if found == 'qcow2':
            qcow2.check_header(head)
    except exception.XenImageError as e:
        return _refused(str(e))
    if found == 'iso':
        return _refused('the data is an ISO 9660 image: installation '
                        'media, not a disk')
    raw_family = found in headers.RAW_FAMILY
    if declared == publish.DISK_FORMAT:
        footer = reader.parse_footer(head[:L.FOOTER_SIZE])
        if footer is None and not raw_family:
            return _refused('labelled vhd, but the data is %s' % found)
        problem = _tap_vhd(image, footer, 'the VHD')
        reason = ('a bare VHD: Nova\'s XenAPI driver boots only a vhd/ovf '
                  'tarball holding 0.vhd')
        return _fixable(reason, *(problem.reasons if problem else ()))
    if (declared == 'raw') != raw_family or (
            not raw_family and found != declared):
        return _refused('labelled %s, but the data is %s: the plugin '
                        'refuses a mislabelled upload' % (declared, found))
    return _fixable('disk_format %s: Nova\'s XenAPI driver boots only a '
                    'vhd/ovf tarball of a tap VHD' % declared)


def from_head(image, head):
    """The verdict from the data's first bytes.

    :raises NeedMore: ``head`` stops before what must be read.
    """
    if is_tarball(image):
        return _tarball_head(image, head)
    return _bare_head(image, head)


class Hashed(object):
    """A stream read through the image's own checksum, counting bytes."""

    def __init__(self, stream, image, counted=None):
        self._stream = stream
        algo = image.get('os_hash_algo')
        self.expected = image.get('os_hash_value') if algo else \
            image.get('checksum')
        self._hash = None
        if self.expected:
            try:
                self._hash = hashlib.new(algo or 'md5')
            except ValueError:
                # An algorithm this Python lacks (or md5 under FIPS):
                # the data is checked, its checksum cannot be.
                self.expected = None
        self._counted = counted
        self.size = 0

    def read(self, size=-1):
        data = self._stream.read(size if size and size > 0 else _CHUNK)
        if data:
            self.size += len(data)
            if self._hash:
                self._hash.update(data)
            if self._counted:
                self._counted(len(data))
        return data

    def drain(self):
        while self.read(_CHUNK):
            pass

    def mismatch(self):
        """Why the data read is not the data Glance recorded, or None."""
        if self._hash and self._hash.hexdigest() != self.expected:
            return 'the data does not match its recorded checksum'
        return None


def _re_writable(chained):
    """Whether the plugin re-writes a tarball ``check_chain_stream`` read.

    Its one problem is then the verdict saying so.
    """
    return chained.vhd is not None and len(chained.problems) == 1


def _re_written(chained, what):
    """The verdict on ``what``, a tarball the plugin would re-write."""
    if _re_writable(chained):
        return _fixable(chained.problems[0].message)
    return _refused('%s that fails its checks: %s' % (
        what, '; '.join(p.message for p in chained.problems)))


def from_stream(image, stream, second_pass=None):
    """The verdict from every byte (``--deep``).

    :param stream: a :class:`Hashed` over the data.
    :param second_pass: a callable giving a fresh :class:`Hashed`, for a
        tarball that turns out to be a snapshot chain.
    """
    if not is_tarball(image):
        head = archive.read_exactly(stream, min(
            headers.HEAD_SIZE, image.get('size') or 0), 'the data')
        stream.drain()
        mismatch = stream.mismatch()
        return _refused(mismatch) if mismatch else from_head(image, head)
    head = archive.read_upto(stream, archive.TAR_BLOCK)
    if archive.container(head) == archive.BARE_TAR:
        # Read as the plugin reads it, to say whether a re-import works.
        chained = check.check_chain_stream(
            archive.PrefixedReader(head, stream))
        stream.drain()
        if stream.mismatch():
            return _refused(stream.mismatch())
        return _re_written(chained, 'a bare tarball')
    try:
        report = check.check_tarball_stream(
            archive.PrefixedReader(head, stream))
        stream.drain()
    except exception.Unreadable as e:
        return _refused(str(e))
    if stream.mismatch():
        return _refused(stream.mismatch())
    if report.valid:
        return _with_vm_mode(image, '0.vhd: tap dynamic VHD, every block '
                                    'checked')
    if any(p.check == 'tar.format' for p in report.problems) and \
            second_pass is not None:
        again = second_pass()
        try:
            chained = check.check_chain_stream(again)
            again.drain()
        except exception.Unreadable as e:
            return _refused(str(e))
        if _re_writable(chained) or len(chained.members) > 1:
            return _re_written(chained, 'a snapshot chain')
    return Verdict(FIXABLE if not any(p.check == 'tar.format'
                                      for p in report.problems)
                   else NOT_CONVERTIBLE,
                   [p.message for p in report.all_problems()])
