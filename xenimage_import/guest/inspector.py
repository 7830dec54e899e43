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

"""Inspect the guest disk as the converter streams it past.

The converter hands every non-zero block to :class:`GuestInspector`, in
disk order. It keeps only the bytes it needs as they go by: the first
sectors (MBR, GPT), the entry array, each EBR, each partition's first
4 KiB and the 4 KiB at +64 KiB (btrfs); the disk's tail only when a
damaged primary GPT sends libfdisk to the backup. Blocks never handed
over read as zeros. Nothing is mounted, nothing is read twice; memory is
bounded by :data:`MAX_PARTITIONS` captures of 8 KiB and one entry array.

The inspection is advisory. What it cannot read, or what Linux and
libfdisk read differently, gives ``unknown (reason)`` and infers nothing;
any error inside it is caught and reported the same way, so it can never
fail a conversion, and it changes no byte of the output.

From a layout both readers agree on it derives what Nova's XenAPI driver
needs: ``os_type`` (``windows`` for an NTFS partition, ``linux`` for
Linux filesystems, LVM or swap) and ``auto_disk_config`` (``True`` only
for exactly one partition holding ext2/3/4, the one case the driver can
resize; ``Disabled`` otherwise).
"""

import bisect
import collections
import logging

from xenimage_import.guest import filesystems
from xenimage_import.guest import tables

LOG = logging.getLogger(__name__)

SECTOR = tables.SECTOR
MAX_PARTITIONS = 128
# EBRs read before giving up on a chain (libfdisk stops at 56).
MAX_LOGICAL = 64
# Glance keeps at most this many characters of a property.
PROPERTY_MAX = 255
# The doubts where this streaming reader cannot list what libfdisk lists:
# libfdisk seeks back, the stream does not.
BEHIND = 'a table points behind what was read'
OUT_OF_REACH = 'the backup GPT is out of reach'
UNREACHABLE = (BEHIND, OUT_OF_REACH)


class _Capture(object):
    """``length`` bytes at ``offset``, filled as blocks stream past."""

    def __init__(self, offset, length, on_done=None):
        self.offset = offset
        self.buf = bytearray(length)
        self.on_done = on_done

    @property
    def end(self):
        return self.offset + len(self.buf)


class _Doubt(Exception):
    """The layout cannot be trusted; the message says why."""


class _Partition(object):
    def __init__(self, slot, head, btrfs):
        self.slot = slot
        self.head = head
        self.btrfs = btrfs

    def as_dict(self):
        fs = filesystems.name(self.head.buf, self.btrfs.buf) \
            if self.head else None
        return {'number': self.slot.number,
                'start': self.slot.start * SECTOR,
                'size': self.slot.sectors * SECTOR,
                'type': self.slot.type, 'filesystem': fs,
                'bootable': self.slot.bootable,
                'container': self.slot.container}


class GuestInspector(object):
    """Feed it ``(block, data)`` in disk order; ask :meth:`report`."""

    def __init__(self, disk_size, block_size):
        self.disk_size = disk_size
        self.block_size = block_size
        # Partition tables address whole sectors; a trailing part-sector
        # is no sector either reader sees.
        self.sectors = disk_size // SECTOR
        self.label = None
        self.linux = tables.View()
        self.fdisk = tables.View()
        self.partitions = []           # _Partition, libfdisk's listing
        self.doubts = []               # why the layout is not trusted
        self.failed = None             # an error inside the inspector
        self._pending = []             # _Capture, sorted by offset
        self._fed_end = 0
        self._logical = 0              # EBRs read
        self._ebrs = {}                # lba -> EBR sector, for loops
        self._whole = (self._want(0, filesystems.HEAD),
                       self._want(filesystems.BTRFS_OFFSET,
                                  filesystems.HEAD))
        self._want(0, 2 * SECTOR, self._first_sectors)

    # -- capture bookkeeping -------------------------------------------

    def _want(self, offset, length, on_done=None, limit=None):
        """Capture ``length`` bytes at ``offset``, clipped to ``limit``."""
        end = min(offset + length, self.disk_size if limit is None
                  else min(limit, self.disk_size))
        capture = _Capture(offset, max(0, end - offset), on_done)
        if offset < self._fed_end:
            # Already streamed past (a table pointing backwards).
            self.doubts.append(BEHIND)
            return capture
        keys = [c.offset for c in self._pending]
        self._pending.insert(bisect.bisect(keys, offset), capture)
        return capture

    def _complete(self, capture):
        self._pending.remove(capture)
        if capture.on_done:
            capture.on_done(capture)

    def _advance(self, offset):
        while self._pending and self._pending[0].end <= offset:
            self._complete(self._pending[0])

    def feed(self, block, data):
        """Take what is wanted from ``data``, block ``block`` of the disk."""
        if self.failed:
            return
        try:
            self._feed(block * self.block_size, data)
        except Exception as e:
            self._fail(e)

    def _feed(self, start, data):
        end = start + len(data)
        self._advance(start)
        progress = True
        while progress:
            # A finished capture may ask for more of this same block.
            progress = False
            for capture in self._pending:
                if capture.offset >= end:
                    break
                lo, hi = max(start, capture.offset), min(end, capture.end)
                if lo < hi:
                    capture.buf[lo - capture.offset:hi - capture.offset] = \
                        data[lo - start:hi - start]
                if capture.end <= end:
                    self._complete(capture)
                    progress = True
                    break
        self._fed_end = max(self._fed_end, end)

    def _fail(self, error):
        LOG.warning('guest inspection gave up: %s: %s',
                    type(error).__name__, error)
        LOG.debug('guest inspection error', exc_info=True)
        self.failed = 'inspection error: %s' % type(error).__name__
        self._pending = []

    # -- partition tables ------------------------------------------------

    def _first_sectors(self, capture):
        mbr, lba1 = bytes(capture.buf[:SECTOR]), bytes(capture.buf[SECTOR:])
        if not tables.has_mbr_signature(mbr):
            return
        entries = tables.mbr_entries(mbr)
        linux_gpt = tables.pmbr_linux(entries, self.sectors)
        fdisk_gpt = tables.pmbr_fdisk(entries)
        if linux_gpt != fdisk_gpt and not (linux_gpt and fdisk_gpt):
            self.doubts.append('the protective MBR is read differently')
        if linux_gpt or fdisk_gpt:
            self._gpt(lba1, entries, bool(linux_gpt), bool(fdisk_gpt))
        if not fdisk_gpt:
            self._dos(entries, linux_gpt)

    def _dos(self, entries, linux_gpt, capture=True):
        """The DOS table; ``capture`` False once its data is behind."""
        linux, fdisk = tables.dos_primaries(entries)
        if not fdisk:
            return                      # a boot sector; no table
        self.fdisk.label = 'dos'
        if linux_gpt:
            pass                        # Linux reads the GPT instead
        elif not tables.linux_reads_dos(entries):
            self.doubts.append('odd boot flags: Linux reads no table')
        else:
            self.linux.label = 'dos'
            self.linux.slots.extend(linux)
            if any(e.type == tables.MBR_PROTECTIVE for e in entries):
                self.doubts.append('a GPT marker in a DOS table')
        for slot in fdisk:
            self._list(slot, capture)
        extended = [s for s in linux if s.container]
        if len(extended) > 1:
            self.doubts.append('more than one extended partition')
        if any(s.type in ('%x' % t for t in tables.MBR_NESTED_LABELS)
               for s in linux):
            self.doubts.append('a nested BSD or Minix label')
        # libfdisk walks the first entry of an extended type that has a
        # start, Linux the first that has a size: where they differ,
        # Linux is not followed.
        first = next((s for s in fdisk if s.container and s.start), None)
        linux_first = extended[0] if extended and self.linux.label \
            else None
        if linux_first and linux_first != first:
            self.doubts.append('the readers start the EBR chain apart')
        if first is not None and not capture:
            self.doubts.append(BEHIND)         # its EBRs went by
        elif first is not None:
            self._ebr(first.start, first.sectors, first.start,
                      first.sectors, fdisk_next=first.start,
                      linux_on=linux_first == first)

    def _ebr(self, lba, sectors, first_lba, first_sectors, fdisk_next,
             linux_on):
        """Read the EBR at ``lba`` for whichever readers still walk.

        EBRs read are kept (at most :data:`MAX_LOGICAL` sectors), so a
        chain that links back is walked as both readers walk it.
        """
        fdisk_on = (fdisk_next == lba
                    and 4 + self._logical < tables.FDISK_DOS_MAX)
        if fdisk_on and not (first_lba <= lba
                             < first_lba + max(first_sectors, 1)):
            # libfdisk 2.39 on stops at a link outside the extended
            # partition; earlier releases follow it.
            self.doubts.append('libfdisk releases walk the EBR chain '
                               'differently')
        if not (linux_on or fdisk_on):
            return
        if self._logical >= MAX_LOGICAL:
            self.doubts.append('an EBR chain runs long')
            return

        def parse(sector):
            self._ebrs[lba] = sector
            self._logical += 1
            next_linux = next_fdisk = None
            if linux_on:
                found, next_linux = tables.ebr_linux(
                    sector, lba, sectors, first_lba, first_sectors)
                self.linux.slots.extend(found)
            if fdisk_on:
                slot, next_fdisk = tables.ebr_fdisk(sector, lba, first_lba)
                if slot is not None and slot.sectors:
                    number = 5 + sum(1 for s in self.fdisk.slots
                                     if s.number > 4)
                    self._list(tables.Slot(number, slot.start, slot.sectors,
                                           slot.type, slot.bootable),
                               capture=repeat is None)
            if next_linux and next_fdisk is not None and \
                    next_linux[0] != next_fdisk:
                self.doubts.append('an EBR chain is read differently')
            link = next_linux[0] if next_linux else next_fdisk
            if link is not None:
                self._ebr(link, next_linux[1] if next_linux else 0,
                          first_lba, first_sectors, next_fdisk,
                          bool(next_linux))

        repeat = self._ebrs.get(lba)
        if repeat is not None:
            self.doubts.append('an EBR chain loops')
            parse(repeat)
            return

        def read(capture):
            if len(capture.buf) < SECTOR:
                self.doubts.append('an EBR lies past the end of the disk')
            else:
                parse(bytes(capture.buf))
        self._want(lba * SECTOR, SECTOR, read)

    def _gpt(self, lba1, entries, linux_pmbr, fdisk_pmbr):
        header = tables.gpt_header(lba1, tables.GPT_PRIMARY_LBA,
                                   self.sectors)
        linux_on = linux_pmbr and bool(header and header.linux)
        fdisk_on = fdisk_pmbr and bool(header and header.fdisk)
        if fdisk_pmbr and header and not header.fdisk_versions_agree:
            self.doubts.append('libfdisk releases read the GPT differently')

        def parse(capture):
            ok = bool(header) and tables.gpt_entries_valid(
                header, bytes(capture.buf))
            if linux_pmbr and not (linux_on and ok):
                self.doubts.append('the primary GPT is damaged: Linux '
                                   'reads no partitions')
            self._gpt_entries(header, bytes(capture.buf), linux_on and ok,
                              fdisk_on and ok, primary=True)
            if fdisk_pmbr and not (fdisk_on and ok):
                self._backup(entries)
        if linux_on or fdisk_on:
            self._want(header.fields.entries_lba * SECTOR,
                       header.array_bytes, parse)
        else:
            parse(_Capture(0, 0))

    def _gpt_entries(self, header, array, linux_on, fdisk_on, primary):
        if linux_on:
            self.linux.label = 'gpt'
        if fdisk_on:
            self.fdisk.label = 'gpt'
        if not (linux_on or fdisk_on):
            return                      # _gpt and _first_sectors doubt it
        linux, fdisk, more = tables.gpt_slots(header, array, self.sectors,
                                              MAX_PARTITIONS)
        if more:
            self.doubts.append('more than %d partitions' % MAX_PARTITIONS)
        if linux_on:
            self.linux.slots.extend(linux)
        if fdisk_on:
            for slot in fdisk:
                self._list(slot, capture=primary)

    def _backup(self, entries):
        """libfdisk's fallback: the backup GPT in the disk's last sector.

        Where that fails too, libfdisk reads the MBR as a DOS table.
        """
        span = tables.GPT_MAX_ARRAY + SECTOR
        start = max((self.sectors * SECTOR) - span, self._fed_end, 0)

        def parse(capture):
            tail = capture.buf
            last = self.sectors - 1
            at = last * SECTOR - capture.offset
            header = tables.gpt_header(bytes(tail[at:at + SECTOR]), last,
                                       self.sectors) if at >= 0 else None
            if header is not None and header.fdisk:
                if not header.fdisk_versions_agree:
                    self.doubts.append('libfdisk releases read the backup '
                                       'GPT differently')
                lo = header.fields.entries_lba * SECTOR - capture.offset
                if lo < 0 or lo + header.array_bytes > len(tail):
                    self.doubts.append(OUT_OF_REACH)
                    return
                array = bytes(tail[lo:lo + header.array_bytes])
                if tables.gpt_entries_valid(header, array):
                    self._gpt_entries(header, array, False, True,
                                      primary=False)
                    return
            self._dos(entries, True, capture=False)
        self._want(start, self.sectors * SECTOR - start, parse)

    def _list(self, slot, capture=True):
        """List ``slot`` (libfdisk's view) and capture its first bytes."""
        self.fdisk.slots.append(slot)
        if len(self.partitions) >= MAX_PARTITIONS:
            self.doubts.append('more than %d partitions' % MAX_PARTITIONS)
            return
        head = btrfs = None
        start, end = slot.start * SECTOR, (slot.start + slot.sectors) * SECTOR
        if end > self.sectors * SECTOR and slot.holds_data:
            self.doubts.append('partition %d runs past the end of the disk'
                               % slot.number)
        if capture and slot.holds_data and start < self.disk_size:
            head = self._want(start, filesystems.HEAD, limit=end)
            btrfs = self._want(start + filesystems.BTRFS_OFFSET,
                               filesystems.HEAD, limit=end)
        self.partitions.append(_Partition(slot, head, btrfs))

    # -- the verdict -------------------------------------------------------

    def finish(self):
        """Complete every capture left: the rest of the disk is zeros."""
        if self.failed:
            return
        try:
            self._advance(float('inf'))
        except Exception as e:
            self._fail(e)

    def report(self):
        """The layout and what follows from it, as a plain dict.

        Never raises: an inspector that failed reports why.
        """
        self.finish()
        try:
            return self._report()
        except Exception as e:
            self._fail(e)
            return _report(None, [], None, [self.failed])

    def _report(self):
        if self.failed:
            return _report(None, [], None, [self.failed])
        parts = [p.as_dict() for p in self.partitions]
        data = [p for p in parts if p['size'] and not p['container']]
        whole = None
        if not self.fdisk.label or (self.fdisk.label == 'dos'
                                    and not data):
            whole = filesystems.name(self._whole[0].buf,
                                     self._whole[1].buf)
        doubts = list(self.doubts)
        if self.linux.label != self.fdisk.label and self.fdisk.slots:
            doubts.append('Linux and libfdisk read different tables')
        elif self.linux.data_slots() != self.fdisk.data_slots():
            doubts.append('Linux and libfdisk list different partitions')
        if doubts:
            LOG.info('guest inspection: unknown (%s)', '; '.join(doubts))
            return _report(self.fdisk.label, parts, whole, doubts)
        found = {p['filesystem'] for p in data if p['filesystem']}
        if whole:
            found.add(whole)
        os_type = None
        if 'ntfs' in found:
            os_type = 'windows'
        elif found & set(filesystems.LINUX_FILESYSTEMS
                         + filesystems.LINUX_OTHER):
            os_type = 'linux'
        auto_disk_config = None
        if data or whole:
            single = (len(data) == 1 and data[0]['filesystem']
                      in filesystems.RESIZABLE)
            auto_disk_config = 'True' if single else 'Disabled'
        elif self.fdisk.label:
            auto_disk_config = 'Disabled'
        return _report(self.fdisk.label if data or not whole else None,
                       parts, whole, [], os_type, auto_disk_config)


def _report(table, parts, whole, doubts, os_type=None,
            auto_disk_config=None):
    unknown = doubts[0] if doubts else None
    return {
        'partition_table': table,
        'partitions': parts,
        'whole_disk_filesystem': whole,
        'os_type': os_type,
        'auto_disk_config': auto_disk_config,
        'complete': unknown is None,
        'unknown': unknown,
        'doubts': doubts or [],
    }


def _layout(report, detailed):
    parts = [p for p in report['partitions']
             if p['size'] and not p['container']]
    if report['partition_table']:
        if detailed:
            listed = ', '.join('%d:%s' % (p['number'],
                                          p['filesystem'] or '?')
                               for p in parts)
        else:
            counts = collections.Counter(p['filesystem'] or '?'
                                         for p in parts)
            listed = '%d partitions: %s' % (len(parts), ', '.join(
                '%s x%d' % (name, n) for name, n in sorted(counts.items())))
        return '%s [%s]' % (report['partition_table'], listed or 'empty')
    if report['whole_disk_filesystem']:
        return 'no partition table, %s' % report['whole_disk_filesystem']
    return 'no partition table or filesystem found'


def verdict(report):
    """What the inspection concluded, in a few words."""
    if report.get('unknown'):
        return 'unknown (%s)' % report['unknown']
    return 'os_type=%s; auto_disk_config=%s' % (
        report['os_type'] or '?', report['auto_disk_config'] or '?')


def summary(report, detailed=True):
    """One line for users and logs: the verdict first, then the layout."""
    return '%s; %s' % (verdict(report), _layout(report, detailed))


def property_text(report, inferred):
    """The ``xenimage_inspection`` property: never cut mid-value.

    What was set comes first, then the verdict; the layout follows in
    full where it fits and as counts per filesystem where it does not
    (the full layout then goes to the log).
    """
    head = 'set: %s; ' % (', '.join(sorted(inferred)) or 'nothing')
    text = head + summary(report)
    if len(text) <= PROPERTY_MAX:
        return text
    LOG.info('guest inspection: %s', summary(report))
    text = head + summary(report, detailed=False)
    return text if len(text) <= PROPERTY_MAX else head + verdict(report)
