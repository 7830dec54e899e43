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

"""pax extended headers: the records that cannot change what is extracted.

Python's ``tarfile`` writes a pax header with an ``mtime`` record for
every member by default; GNU tar's ``--format=posix`` adds ``atime`` and
``ctime``, and ``--xattrs`` extended attributes; bsdtar does likewise.
Such records change nothing GNU tar (what Nova's dom0 plugin runs),
busybox tar or ``tarfile`` extract as ``0.vhd``, so they are accepted.
``path`` and ``size`` are what the readers would take instead of the
ustar fields, so they are accepted only when equal to those fields.
Everything else (``linkpath``, unknown keywords) could be read
differently and is refused, named. ``GNU.sparse.*`` records mark a sparse
member: they pass here for :mod:`xenimage_import.gnusparse` to read, and
:func:`check_overrides` refuses them where a plain member is required.

The records are parsed strictly, ``"<len> <keyword>=<value>\\n"`` with
``len`` counting the whole record, no leading zero, no keyword twice;
the data is bounded before it is read.
"""

import re

from xenimage_import import exception

EXTENDED = b'x'                  # applies to the next member
GLOBAL = b'g'                    # applies to every member after it
TYPES = (EXTENDED, GLOBAL)
# Bytes of records one pax header may hold: xattrs and ACLs fit easily.
MAX_RECORDS_BYTES = 64 * 1024
# pax headers before one member (one global, one extended, as written).
MAX_HEADERS = 2

# Within what GNU tar stores without an out-of-range error.
_TIME = re.compile(rb'-?[0-9]{1,12}(\.[0-9]{1,19})?')
_ID = re.compile(rb'[0-9]{1,9}')
_ANY = re.compile(rb'.*', re.DOTALL)
# Records read for their meaning by no extractor of a regular file.
HARMLESS = {
    b'atime': _TIME, b'mtime': _TIME, b'ctime': _TIME,
    b'uid': _ID, b'gid': _ID,
    b'uname': _ANY, b'gname': _ANY, b'comment': _ANY, b'charset': _ANY,
    b'hdrcharset': _ANY,
}
HARMLESS_PREFIXES = (b'SCHILY.xattr.', b'LIBARCHIVE.xattr.',
                     b'SCHILY.acl.')
# Records that replace a ustar field: accepted only when equal to it.
PATH = b'path'
SIZE = b'size'
# A sparse member: its data is a map plus the extents, which GNU tar
# expands and busybox tar writes out as it is (xenimage_import.gnusparse).
SPARSE_PREFIX = b'GNU.sparse.'
# Format 0.0 repeats these two records, once per extent.
SPARSE_0_0 = (SPARSE_PREFIX + b'offset', SPARSE_PREFIX + b'numbytes')
_LENGTH = re.compile(rb'[1-9][0-9]{0,5} ')


def _records(data):
    """Yield ``(keyword, value)`` from the records in ``data``."""
    at = 0
    while at < len(data):
        if not any(data[at:]):
            return                     # NUL padding after the records
        match = _LENGTH.match(data, at)
        if not match:
            raise exception.ArchiveError('a pax record has no valid length')
        length = int(match.group()[:-1])
        record = data[at:at + length]
        if len(record) != length or not record.endswith(b'\n'):
            raise exception.ArchiveError('a pax record overruns its header')
        keyword, eq, value = record[match.end() - at:-1].partition(b'=')
        if not eq or not keyword:
            raise exception.ArchiveError('a pax record has no keyword')
        yield keyword, value
        at += length


def parse(data, typeflag):
    """The records of one pax header, checked; ``{keyword: value}``.

    :raises exception.ArchiveError: a record that could change what some
        reader extracts, or records that do not parse.
    """
    found = {}
    for keyword, value in _records(data):
        if keyword in found:
            raise exception.ArchiveError('pax record %s appears twice'
                                         % shown(keyword))
        found[keyword] = value
        rule = HARMLESS.get(keyword)
        if rule is not None:
            if not rule.fullmatch(value):
                raise exception.ArchiveError(
                    'pax record %s has an invalid value' % shown(keyword))
        elif keyword.startswith(HARMLESS_PREFIXES):
            continue
        elif keyword in (PATH, SIZE) and typeflag == EXTENDED:
            continue                   # held to the ustar fields later
        elif keyword in SPARSE_0_0:
            raise exception.ArchiveError(
                'the member was archived in GNU sparse format 0.0 (pax %s), '
                'which tar readers pair differently; archive it with the '
                'default sparse format or without sparse handling'
                % shown(keyword))
        elif keyword.startswith(SPARSE_PREFIX) and typeflag == EXTENDED:
            continue                   # a sparse member: gnusparse reads it
        else:
            raise exception.ArchiveError(
                'pax record %s could change what is extracted'
                % shown(keyword))
    return found


def check_overrides(records, name, size):
    """``path`` and ``size`` records must say what the ustar fields say.

    And the member must not be sparse: this is the check of a plain
    member, the only kind an archive stored as it is may hold.
    """
    for keyword in records:
        if keyword.startswith(SPARSE_PREFIX):
            raise exception.ArchiveError(
                '%s was archived as a sparse file (pax %s), which tar '
                'readers extract differently' % (
                    name.decode('ascii', 'replace'), shown(keyword)))
    if PATH in records and records[PATH] != name:
        raise exception.ArchiveError(
            'pax path %r differs from the member name %r'
            % (records[PATH].decode('utf-8', 'replace')[:64],
               name.decode('ascii', 'replace')))
    check_size(records, size)


def check_size(records, size):
    """A ``size`` record must say what the ustar size field says."""
    if SIZE in records and records[SIZE] != b'%d' % size:
        raise exception.ArchiveError(
            'pax size %s differs from the member size %d'
            % (shown(records[SIZE]), size))


def shown(raw):
    return raw.decode('utf-8', 'replace')[:48]
