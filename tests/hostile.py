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

"""A corpus of hostile or broken uploads, generated with the real qemu-img.

Each case is ``(name, claimed format, builder, expected reason)``; the
builder writes the file into a directory and returns its path. Used by the
CLI tests and the Glance plugin tests alike, so both refuse the same way.
"""

import bz2
import gzip
import io
import lzma
import os
import struct
import subprocess
import tarfile
import time
import uuid

from lab import images
from tests import sparsetar
from xenimage_import import archive
from xenimage_import.vhd import layout as L
from xenimage_import.vhd import writer

MiB = images.MiB
TiB = 1024 ** 4
TAR_BLOCK = archive.TAR_BLOCK


def _raw(d, name='base.raw', size=4 * MiB):
    return images.make_sparse(os.path.join(d, name), size, [(0, 64 * 1024)])


def _qcow2_backing(backing):
    def build(d):
        path = os.path.join(d, 'backing.qcow2')
        images.run('qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b',
                   backing, '-F', 'raw', path, '4M')
        return path
    return build


def _qcow2_data_file(d):
    path = os.path.join(d, 'datafile.qcow2')
    images.run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o',
               'data_file=%s' % os.path.join(d, 'external.raw'), path, '4M')
    return path


def _create_luks(*cmd):
    # NOTE: qemu-img times PBKDF iterations when it creates a LUKS header
    # and gives up ("Unable to get accurate CPU usage") on a busy machine;
    # try again a few times.
    for attempt in range(5):
        try:
            return images.run(*cmd)
        except subprocess.CalledProcessError:
            if attempt == 4:
                raise
            time.sleep(0.5)


def _qcow2_encrypted(d):
    path = os.path.join(d, 'enc.qcow2')
    _create_luks('qemu-img', 'create', '-q', '-f', 'qcow2', '--object',
                 'secret,id=s0,data=hostile', '-o',
                 'encrypt.format=luks,encrypt.key-secret=s0,'
                 'encrypt.iter-time=10', path, '4M')
    return path


def _luks(d):
    path = os.path.join(d, 'disk.luks')
    _create_luks('qemu-img', 'create', '-q', '-f', 'luks', '--object',
                 'secret,id=s0,data=hostile', '-o', 'key-secret=s0,'
                 'iter-time=10', path, '4M')
    return path


def _qcow2(d):
    return images.qemu_convert(_raw(d), os.path.join(d, 'ok.qcow2'), 'qcow2')


def _qcow2_truncated(d):
    path = _qcow2(d)
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 64 * 1024)
    return path


# qcow2 header fields (big-endian u64) that the corruptions target.
QCOW2_SIZE = 24
QCOW2_L1_TABLE_OFFSET = 40
QCOW2_REFCOUNT_TABLE_OFFSET = 48
QCOW2_OFFSET_MASK = 0x00FFFFFFFFFFFE00


def _qcow2_corrupt_table(header_field, entry):
    """A qcow2 whose first entry of a table now points far past EOF."""
    def build(d):
        path = _qcow2(d)
        with open(path, 'r+b') as f:
            f.seek(header_field)
            table = struct.unpack('>Q', f.read(8))[0]
            f.seek(table)
            f.write(struct.pack('>Q', entry))
        return path
    return build


_qcow2_bad_l1 = _qcow2_corrupt_table(QCOW2_L1_TABLE_OFFSET,
                                     (1 << 63) | (1 << 50))
_qcow2_bad_refcount = _qcow2_corrupt_table(QCOW2_REFCOUNT_TABLE_OFFSET,
                                           1 << 50)


def _qcow2_huge(d):
    path = _qcow2(d)
    with open(path, 'r+b') as f:
        f.seek(QCOW2_SIZE)
        f.write(struct.pack('>Q', 1 << 60))
    return path


def _vmdk_descriptor(extent):
    def build(d):
        path = os.path.join(d, 'desc.vmdk')
        with open(path, 'w') as f:
            f.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                    'parentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
                    '# Extent description\n%s\n\n'
                    'ddb.adapterType = "ide"\n' % extent)
        return path
    return build


def _vmdk_monolithic_flat(d):
    path = os.path.join(d, 'flat.vmdk')
    images.qemu_convert(_raw(d), path, 'vmdk',
                        options='subformat=monolithicFlat')
    return path


def _differencing_vhd(d):
    plan = writer.TapVhdPlan(4 * MiB, [])
    buf = bytearray(images.tap_vhd_bytes(plan, None))
    for base in (0, len(buf) - 512):
        footer = L.FOOTER.unpack(buf[base:base + 512])
        buf[base:base + 512] = L.pack_with_checksum(
            L.FOOTER, footer._replace(disk_type=L.DISK_TYPE_DIFFERENCING))
    path = os.path.join(d, 'child.vhd')
    with open(path, 'wb') as f:
        f.write(buf)
    return path


def _fixed_vhd_lying_size(d):
    path = images.qemu_convert(_raw(d), os.path.join(d, 'fixed.vhd'), 'vpc',
                               options='subformat=fixed')
    with open(path, 'r+b') as f:
        f.seek(-512, os.SEEK_END)
        footer = L.FOOTER.unpack(f.read(512))
        f.seek(-512, os.SEEK_END)
        f.write(L.pack_with_checksum(
            L.FOOTER, footer._replace(current_size=64 * MiB,
                                      original_size=64 * MiB)))
    return path


def _dynamic_vhd_bat_past_end(d):
    path = images.qemu_convert(_raw(d), os.path.join(d, 'dyn.vhd'), 'vpc')
    with open(path, 'r+b') as f:
        f.seek(L.BAT_OFFSET)
        f.write(struct.pack('>I', 0x00FFFFF0))
    return path


# VHDX region and metadata item GUIDs (MS-VHDX 2.6), as stored on disk.
VHDX_REGION_TABLE = 0x30000
VHDX_METADATA_REGION = uuid.UUID('8B7CA206-4790-4B9A-B8FE-575F050F886E')
VHDX_FILE_PARAMETERS = uuid.UUID('CAA16737-FA36-4D43-B3B6-33F0AA44E76B')
VHDX_HAS_PARENT = 0x2
_VHDX_REGION_HEADER = struct.Struct('<4sIII')     # signature, crc, count
_VHDX_REGION_ENTRY = struct.Struct('<16sQII')     # guid, offset, length
_VHDX_METADATA_HEADER = struct.Struct('<8sHH20s')  # 'metadata', count
_VHDX_METADATA_ENTRY = struct.Struct('<16sIIII')  # guid, offset, length


def _vhdx_region(f, guid):
    """File offset of the region ``guid`` in the VHDX open as ``f``."""
    f.seek(VHDX_REGION_TABLE)
    count = _VHDX_REGION_HEADER.unpack(f.read(_VHDX_REGION_HEADER.size))[2]
    regions = [_VHDX_REGION_ENTRY.unpack(f.read(_VHDX_REGION_ENTRY.size))
               for _ in range(count)]
    return [r[1] for r in regions if r[0] == guid.bytes_le][0]


def _vhdx_with_parent(d):
    """A qemu-made VHDX whose file parameters say it has a parent."""
    path = os.path.join(d, 'child.vhdx')
    images.run('qemu-img', 'create', '-q', '-f', 'vhdx', path, '8M')
    with open(path, 'r+b') as f:
        meta = _vhdx_region(f, VHDX_METADATA_REGION)
        f.seek(meta)
        count = _VHDX_METADATA_HEADER.unpack(
            f.read(_VHDX_METADATA_HEADER.size))[2]
        items = [_VHDX_METADATA_ENTRY.unpack(
            f.read(_VHDX_METADATA_ENTRY.size)) for _ in range(count)]
        params = [i[1] for i in items
                  if i[0] == VHDX_FILE_PARAMETERS.bytes_le][0]
        f.seek(meta + params + 4)
        flags = struct.unpack('<I', f.read(4))[0]
        f.seek(meta + params + 4)
        f.write(struct.pack('<I', flags | VHDX_HAS_PARENT))
    return path


def _empty(d):
    path = os.path.join(d, 'empty.raw')
    open(path, 'wb').close()
    return path


def _iso(d):
    path = os.path.join(d, 'cd.iso')
    with open(path, 'wb') as f:
        f.truncate(1 * MiB)
        f.seek(0x8001)
        f.write(b'CD001')
    return path


def _gzip(d):
    path = os.path.join(d, 'image.tgz')
    images.run('tar', '-czf', path, '-C', d, os.path.basename(_raw(d)))
    return path


def _tar(members, name='upload.tgz'):
    """A gzipped tar from (TarInfo, data-or-None) built in memory."""
    def build(d):
        path = os.path.join(d, name)
        with tarfile.open(path, 'w:gz') as archive:
            for info, data in members(d):
                archive.addfile(info, io.BytesIO(data) if data else None)
        return path
    return build


def _member(name, kind=tarfile.REGTYPE, data=b'', **attrs):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data if kind == tarfile.REGTYPE else None


def _tap_vhd_bytes(size=4 * MiB):
    plan = writer.TapVhdPlan(size, [])
    return images.tap_vhd_bytes(plan, None)


class _Zeros(object):
    """A file-like object of ``size`` zero bytes, for gzip bombs."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def _gzip_bomb(size):
    def build(d):
        path = os.path.join(d, 'bomb.tgz')
        info = tarfile.TarInfo('0.vhd')
        info.size = size
        with tarfile.open(path, 'w:gz', compresslevel=9) as archive:
            archive.addfile(info, _Zeros(size))
        return path
    return build


# -- Tarballs that two tar readers would read differently ------------------

def _gzip_file(d, name, data):
    path = os.path.join(d, name)
    with gzip.open(path, 'wb', compresslevel=1) as f:
        f.write(data)
    return path


def _header(length=0, **fields):
    """A tar header for ``length`` bytes of 0.vhd, raw fields replaced."""
    block = archive.tar_header(length, 0)
    header = archive.TAR_HEADER.unpack(block)._replace(**fields)
    if 'checksum' not in fields:
        raw = archive.TAR_HEADER.pack(header._replace(checksum=b' ' * 8))
        header = header._replace(checksum=b'%06o\0 ' % sum(raw))
    return archive.TAR_HEADER.pack(header)


def tar_bytes(vhd, **fields):
    """One-member tar bytes of ``vhd``, header fields optionally forged."""
    return (_header(len(vhd), **fields) + vhd
            + archive.tar_trailer(len(vhd)))


def _tar_raw(build_bytes, name='forged.tgz'):
    def build(d):
        return _gzip_file(d, name, build_bytes(d))
    return build


def _sparse_vhd_file(d, name='0.vhd'):
    """A tap VHD with data, written with holes where it holds zeros."""
    raw = images.make_sparse(os.path.join(d, 'data.raw'), 8 * MiB,
                             [(2 * MiB, 64 * 1024)])
    vhd = images.tap_vhd(raw, os.path.join(d, 'full.vhd'))
    os.unlink(raw)
    path = os.path.join(d, name)
    with open(vhd, 'rb') as src, open(path, 'wb') as out:
        while True:
            chunk = src.read(4096)
            if not chunk:
                break
            if any(chunk):
                out.write(chunk)
            else:
                out.seek(len(chunk), os.SEEK_CUR)
        out.truncate()
    os.unlink(vhd)
    return path


def _gnu_tar(*options):
    """A tarball of a (sparse) tap 0.vhd made by GNU tar itself."""
    def build(d):
        work = os.path.join(d, 'tarwork')
        os.mkdir(work)
        _sparse_vhd_file(work)
        path = os.path.join(d, 'gnu.tgz')
        images.run('tar', '-czf', path, *options, '-C', work, '0.vhd')
        return path
    return build


# RFC 8878's frame magic: what the refusal knows zstd by (no zstd
# encoder in the standard library).
ZSTD_FRAME_MAGIC = b'\x28\xb5\x2f\xfd'


def _compressed_tar(compress):
    """A tarball of a tap 0.vhd, compressed by ``compress``."""
    def build(d):
        path = os.path.join(d, 'upload.tar.x')
        with open(path, 'wb') as f:
            f.write(compress(tar_bytes(_tap_vhd_bytes())))
        return path
    return build


def _damaged_header_hides_second(d):
    """0.vhd, a header with a bad checksum, then another 0.vhd.

    tarfile stops at the damaged header; GNU tar skips it and extracts the
    second member over the first.
    """
    first = _tap_vhd_bytes()
    second = _tap_vhd_bytes(8 * MiB)
    body = _header(len(first)) + first
    damaged = bytearray(_header(len(second)))
    damaged[0:5] = b'1.vhd'          # checksum no longer matches
    body += bytes(damaged) + bytes(TAR_BLOCK)
    body += tar_bytes(second)
    return _gzip_file(d, 'damaged.tgz', body)


def _gnu_long_name_alias(d):
    """A GNU long-name record saying 0.vhd in front of another name."""
    vhd = _tap_vhd_bytes()
    name = b'0.vhd\0'
    record = _header(len(name), typeflag=b'L',
                     name=b'././@LongLink') + name + bytes(-len(name) % 512)
    return _gzip_file(d, 'longname.tgz', record + tar_bytes(
        vhd, name=b'something-else'))


def pax_record(keyword, value):
    """One ``"<len> keyword=value\\n"`` record, its length counted."""
    body = b' %s=%s\n' % (keyword, value)
    length = len(body) + 1
    while len(b'%d' % length) + len(body) != length:
        length += 1
    return b'%d' % length + body


def _pax(*records, typeflag=b'x', raw=None, **member):
    """A pax header of ``records`` (or ``raw`` bytes) before 0.vhd."""
    def build(d):
        vhd = _tap_vhd_bytes()
        data = raw if raw is not None else b''.join(
            pax_record(k, v) for k, v in records)
        head = _header(len(data), typeflag=typeflag, magic=b'ustar\0',
                       version=b'00', name=b'./PaxHeaders/0.vhd')
        return _gzip_file(d, 'pax.tgz', head + data + bytes(
            -len(data) % TAR_BLOCK) + tar_bytes(vhd, **member))
    return build


def _huge_record(typeflag, size):
    """A header announcing ``size`` bytes of record, then zeros."""
    def build(d):
        path = os.path.join(d, 'record.tgz')
        with gzip.open(path, 'wb', compresslevel=1) as f:
            f.write(_header(size, typeflag=typeflag,
                            name=b'././@LongLink'))
            zeros = bytes(MiB)
            for _ in range(size // MiB):
                f.write(zeros)
        return path
    return build


def _trailing_gzip_member(d):
    path = _gzip_file(d, 'two.tgz', tar_bytes(_tap_vhd_bytes()))
    with open(path, 'ab') as f:
        f.write(gzip.compress(tar_bytes(_tap_vhd_bytes(8 * MiB))))
    return path


def _tap_tarball(size, name='tap.tgz'):
    """A tap tarball from the project's writer of an empty ``size`` disk."""
    def build(d):
        return _gzip_file(d, name, tar_bytes(_tap_vhd_bytes(size)))
    return build


def _tap_vhd_with(**batmap):
    """A tap tarball whose batmap header is forged (fields given)."""
    def build(d):
        vhd = bytearray(_tap_vhd_bytes(64 * MiB))
        header = L.DYNAMIC_HEADER.unpack(vhd[512:1536])
        at = L.round_up(header.table_offset
                        + header.max_table_entries * 4, 512)
        bh = L.BATMAP_HEADER.unpack(vhd[at:at + 512])._replace(**batmap)
        vhd[at:at + 512] = L.BATMAP_HEADER.pack(bh)
        return _gzip_file(d, 'batmap.tgz', tar_bytes(bytes(vhd)))
    return build


def _vhd_every_block_shared(d):
    """A tap tarball whose BAT points every block at the same data."""
    vhd = bytearray(_tap_vhd_bytes(64 * MiB))
    header = L.DYNAMIC_HEADER.unpack(vhd[512:1536])
    end = len(vhd) - 512
    vhd[end:end] = bytes(L.BLOCK_SIZE + 4096)   # one block of data
    table = [(end + 4096 - 512) // 512] * header.max_table_entries
    start = header.table_offset
    vhd[start:start + 4 * len(table)] = L.pack_bat(table)
    return _gzip_file(d, 'shared.tgz', tar_bytes(bytes(vhd)))


# -- Damaged in transit: must never convert to zeros where data was -------

def _with_data(d, fmt, data=6 * MiB):
    """A qemu-made 8 MiB image of ``fmt`` holding ``data`` bytes."""
    raw = images.make_sparse(os.path.join(d, 'data.raw'), 8 * MiB,
                             [(0, data)])
    return images.qemu_convert(raw, os.path.join(d, 'image.' + fmt), fmt)


def _truncated(fmt, cut=64 * 1024):
    """A qemu-made image with data, its last ``cut`` bytes lost."""
    def build(d):
        path = _with_data(d, fmt)
        with open(path, 'r+b') as f:
            f.truncate(os.path.getsize(path) - cut)
        return path
    return build


def _vhd_footers_differ(d):
    """A qemu VHD whose end footer (blktap's) says another size."""
    path = _with_data(d, 'vpc', MiB)
    with open(path, 'r+b') as f:
        f.seek(-512, os.SEEK_END)
        footer = L.FOOTER.unpack(f.read(512))
        f.seek(-512, os.SEEK_END)
        f.write(L.pack_with_checksum(L.FOOTER, footer._replace(
            current_size=4 * MiB, original_size=4 * MiB)))
    return path


def _vhd_end_footer_lost(d):
    path = _with_data(d, 'vpc', MiB)
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 512)
    return path


# -- VMDKs that would make qemu open a file named inside them --------------

def _vmdk_embedded_descriptor(descriptor, capacity=None):
    """A qemu-made sparse VMDK with its embedded descriptor replaced."""
    def build(d):
        path = images.qemu_convert(_raw(d), os.path.join(d, 'emb.vmdk'),
                                   'vmdk')
        images.make_sparse(os.path.join(d, 'sibling.raw'), MiB, [(0, MiB)])
        with open(path, 'r+b') as f:
            header = f.read(64)
            desc_offset, desc_size = struct.unpack_from('<QQ', header, 28)
            if capacity is not None:
                f.seek(12)
                f.write(struct.pack('<Q', capacity))
            text = descriptor.encode()
            f.seek(desc_offset * 512)
            f.write(text + bytes(desc_size * 512 - len(text)))
        return path
    return build


def _vmdk_huge_grain(d):
    """A streamOptimized VMDK whose grains are 64 MiB: qemu buffers them."""
    path = images.qemu_convert(_raw(d), os.path.join(d, 'grain.vmdk'),
                               'vmdk', options='subformat=streamOptimized')
    with open(path, 'r+b') as f:
        f.seek(20)
        f.write(struct.pack('<Q', 131072))
    return path


_SIBLING_FLAT = ('# Disk DescriptorFile\n# createtype="monolithicSparse"\n'
                 'version=1\nCID=fffffffe\nparentCID=ffffffff\n'
                 'createType="monolithicFlat"\n\n'
                 'RW 2048 FLAT "sibling.raw" 0\n')


def _vmdk_text_descriptor_variant(d):
    """No "# Disk DescriptorFile" line, yet qemu reads it as a descriptor."""
    path = os.path.join(d, 'variant.vmdk')
    with open(path, 'w') as f:
        f.write(_SIBLING_FLAT.split('\n', 1)[1])
    images.make_sparse(os.path.join(d, 'sibling.raw'), MiB, [(0, MiB)])
    return path


# -- Shared-pointer bombs: every table entry points at one data block -----

def _qemu_create(path, fmt, size, options=None, writes=()):
    images.run('qemu-img', 'create', '-q', '-f', fmt,
               *(['-o', options] if options else []), path, str(size))
    for offset in writes:
        images.run('qemu-io', '-f', fmt, '-c',
                   'write -P 0x5a %d 64k' % offset, path)
    return path


def _vhd_bomb(size):
    """qemu's dynamic VHD; one real block, every BAT entry pointing at it."""
    def build(d):
        path = _qemu_create(os.path.join(d, 'bomb.vhd'), 'vpc', size)
        with open(path, 'r+b') as f:
            footer = f.read(512)
            header = L.DYNAMIC_HEADER.unpack(f.read(1024))
            f.seek(-512, os.SEEK_END)
            block = f.tell()
            f.write(b'\xff' * 512 + images.pattern('bomb', L.BLOCK_SIZE)
                    + footer)
            f.seek(header.table_offset)
            f.write(L.pack_bat([block // 512] * header.max_table_entries))
        return path
    return build


def _qcow2_bomb(size):
    """A qcow2 whose L2 entries all name one cluster, refcount to match."""
    def build(d):
        cluster = 2 * MiB
        path = _qemu_create(os.path.join(d, 'bomb.qcow2'), 'qcow2', size,
                            'cluster_size=%d,refcount_bits=64' % cluster,
                            writes=range(0, size, cluster * cluster // 8))
        with open(path, 'r+b') as f:
            head = f.read(104)
            l1_size, l1_offset, rc_offset = struct.unpack_from('>IQQ', head,
                                                               36)
            f.seek(l1_offset)
            l2_tables = [e & QCOW2_OFFSET_MASK for e in struct.unpack(
                '>%dQ' % l1_size, f.read(8 * l1_size)) if e]
            f.seek(l2_tables[0])
            data = struct.unpack('>Q', f.read(8))[0] & QCOW2_OFFSET_MASK
            entries = size // cluster
            per_table = cluster // 8
            for table in l2_tables:
                count = min(per_table, entries)
                entries -= count
                f.seek(table)
                f.write(struct.pack('>Q', data) * count)
            # The refcount of the shared cluster: one per reference.
            f.seek(rc_offset)
            block = struct.unpack('>Q', f.read(8))[0]
            f.seek(block + 8 * (data // cluster))
            f.write(struct.pack('>Q', size // cluster))
        return path
    return build


def _vmdk_bomb(size):
    """A monolithicSparse VMDK whose grain table entries all name one."""
    def build(d):
        path = _qemu_create(os.path.join(d, 'bomb.vmdk'), 'vmdk', size,
                            writes=[0])
        with open(path, 'r+b') as f:
            header = f.read(512)
            grain, gt_entries, gd_offset = (
                struct.unpack_from('<Q', header, 20)[0],
                struct.unpack_from('<I', header, 44)[0],
                struct.unpack_from('<Q', header, 56)[0])
            tables = -(-size // (grain * 512 * gt_entries))
            f.seek(gd_offset * 512)
            gd = struct.unpack('<%dI' % tables, f.read(4 * tables))
            f.seek(gd[0] * 512)
            first = f.read(4)
            for table in gd:
                f.seek(table * 512)
                f.write(first * gt_entries)
        return path
    return build


VHDX_BAT_REGION = uuid.UUID('2DC27766-F623-4200-9D64-115E9BFD4A08')
VHDX_CHUNK_SECTORS = 1 << 23


def _vhdx_bomb(size):
    """A VHDX whose payload BAT entries all name one block."""
    def build(d):
        block = 32 * MiB
        path = _qemu_create(os.path.join(d, 'bomb.vhdx'), 'vhdx', size,
                            'block_size=%d' % block, writes=[0])
        with open(path, 'r+b') as f:
            bat = _vhdx_region(f, VHDX_BAT_REGION)
            f.seek(bat)
            first = f.read(8)
            chunk_ratio = VHDX_CHUNK_SECTORS * 512 // block
            for index in range(-(-size // block)):
                f.seek(bat + 8 * (index + index // chunk_ratio))
                f.write(first)
        return path
    return build


# Bombs by format, for the CLI (1 TiB) and the corpus (1 GiB) alike.
BOMBS = {'vhd': _vhd_bomb, 'qcow2': _qcow2_bomb, 'vmdk': _vmdk_bomb,
         'vhdx': _vhdx_bomb}


# name, claimed format, builder, a fragment of the expected reason
CASES = [
    ('qcow2-backing-relative', 'qcow2', _qcow2_backing('base.raw'),
     'backing file'),
    ('qcow2-backing-absolute', 'qcow2', _qcow2_backing('/etc/passwd'),
     'backing file'),
    ('qcow2-backing-json', 'qcow2', _qcow2_backing(
        'json:{"driver":"raw","file":{"driver":"file",'
        '"filename":"/etc/passwd"}}'), 'backing file'),
    ('qcow2-backing-nbd', 'qcow2', _qcow2_backing('nbd://127.0.0.1:10809/x'),
     'backing file'),
    ('qcow2-backing-http', 'qcow2',
     _qcow2_backing('http://127.0.0.1:9/disk.raw'), 'backing file'),
    ('qcow2-data-file', 'qcow2', _qcow2_data_file, 'data_file'),
    ('qcow2-encrypted', 'qcow2', _qcow2_encrypted, 'encrypted'),
    ('luks', 'raw', _luks, 'LUKS'),
    ('qcow2-truncated', 'qcow2', _qcow2_truncated, 'corrupt or truncated'),
    ('qcow2-bad-l1', 'qcow2', _qcow2_bad_l1, 'corrupt'),
    ('qcow2-bad-refcount', 'qcow2', _qcow2_bad_refcount, 'corrupt'),
    ('qcow2-absurd-size', 'qcow2', _qcow2_huge, 'virtual size'),
    ('vmdk-extent-etc-passwd', 'vmdk',
     _vmdk_descriptor('RW 8 FLAT "/etc/passwd" 0'), 'vmdk'),
    ('vmdk-sparse-extent-host-path', 'vmdk',
     _vmdk_descriptor('RW 8 SPARSE "/var/lib/glance/x.vmdk"'), 'vmdk'),
    ('vmdk-monolithic-flat', 'vmdk', _vmdk_monolithic_flat, 'vmdk'),
    ('vhd-differencing', 'vhd', _differencing_vhd, 'differencing VHD'),
    ('vhdx-with-parent', 'vhdx', _vhdx_with_parent,
     'cannot read the image as vhdx'),
    ('vhd-fixed-lying-size', 'vhd', _fixed_vhd_lying_size,
     'fixed VHD claims'),
    ('vhd-bat-past-end', 'vhd', _dynamic_vhd_bat_past_end,
     'cannot read the image as vpc'),
    ('claims-qcow2-is-raw', 'qcow2', _raw, 'claims to be qcow2'),
    ('claims-raw-is-qcow2', 'raw', _qcow2, 'claims to be raw'),
    ('zero-length', 'raw', _empty, 'empty'),
    ('iso', 'raw', _iso, 'ISO'),
    ('gzip-archive', 'raw', _gzip, 'gzip'),
    ('tar-dotdot-member', 'vhd',
     _tar(lambda d: [_member('../0.vhd', data=_tap_vhd_bytes())]),
     'outside the archive'),
    ('tar-absolute-member', 'vhd',
     _tar(lambda d: [_member('/0.vhd', data=_tap_vhd_bytes())]),
     'outside the archive'),
    ('tar-symlink-member', 'vhd',
     _tar(lambda d: [_member('0.vhd', tarfile.SYMTYPE,
                             linkname='/etc/passwd')]), 'not a regular'),
    ('tar-hardlink-member', 'vhd',
     _tar(lambda d: [_member('0.vhd', tarfile.LNKTYPE,
                             linkname='/etc/passwd')]), 'not a regular'),
    ('tar-device-member', 'vhd',
     _tar(lambda d: [_member('0.vhd', tarfile.CHRTYPE, devmajor=1,
                             devminor=3)]), 'not a regular'),
    ('tar-directory-member', 'vhd',
     _tar(lambda d: [_member('0.vhd', tarfile.DIRTYPE)]), 'not a regular'),
    ('tar-second-member', 'vhd',
     _tar(lambda d: [_member('0.vhd', data=_tap_vhd_bytes()),
                     _member('1.vhd', data=_tap_vhd_bytes())]),
     'only the base may stand alone'),
    ('tar-other-name', 'vhd',
     _tar(lambda d: [_member('disk.raw', data=b'x' * 4096)]),
     'only 0.vhd at its root'),
    # Sparse members real tools make are expanded (test_tar_readers);
    # maps readers would expand differently are not.
    ('tar-sparse-overlapping-extents', 'vhd',
     _tar_raw(lambda d: sparsetar.oldgnu([(0, 2048), (1024, 1024)],
                                         4096)), 'overlaps'),
    ('tar-sparse-entry-after-empty', 'vhd',
     _tar_raw(lambda d: sparsetar.oldgnu(
         [(0, 512), (2048, 512)], 4096,
         entries=[sparsetar.entry(0, 512), bytes(24),
                  sparsetar.entry(2048, 512)])), 'after an empty one'),
    ('tar-sparse-map-signed-number', 'vhd',
     _tar_raw(lambda d: sparsetar.pax_1_0(
         [(0, 512)], 4096, map_lines=[b'1', b'+0', b'512'])),
     'not a decimal'),
    # tar -cJf, -cjf, --zstd: only gzip is read (bare tar is converted).
    ('tar-xz', 'vhd', _compressed_tar(lzma.compress), 'xz-compressed'),
    ('tar-bzip2', 'vhd', _compressed_tar(bz2.compress),
     'bzip2-compressed'),
    ('tar-zstd-claimed-raw', 'raw', _compressed_tar(
        lambda data: ZSTD_FRAME_MAGIC + data), 'zstd-compressed'),
    ('bare-tar-claimed-raw', 'raw', _compressed_tar(lambda data: data),
     'content is a tar archive'),
    ('tar-sparse-format-0-0', 'vhd',
     _gnu_tar('--format=posix', '--sparse', '--sparse-version=0.0'),
     'format 0.0'),
    ('tar-pax-path-differs', 'vhd', _pax((b'path', b'1.vhd')), 'differs'),
    ('tar-pax-size-differs', 'vhd', _pax((b'size', b'512')), 'differs'),
    ('tar-pax-linkpath', 'vhd', _pax((b'linkpath', b'/etc/passwd')),
     'could change what is extracted'),
    ('tar-pax-global-path', 'vhd', _pax((b'path', b'0.vhd'),
                                        typeflag=b'g'),
     'could change what is extracted'),
    ('tar-pax-unknown-keyword', 'vhd', _pax((b'GNU.volume.label', b'x')),
     'could change what is extracted'),
    ('tar-pax-record-twice', 'vhd', _pax((b'mtime', b'1'), (b'mtime', b'2')),
     'twice'),
    ('tar-pax-bad-length', 'vhd', _pax(raw=b'07 a=b\n'), 'valid length'),
    ('tar-pax-record-overruns', 'vhd', _pax(raw=b'90 mtime=1\n'),
     'overruns'),
    ('tar-pax-bad-time', 'vhd', _pax((b'mtime', b'1e9')), 'invalid value'),
    ('tar-damaged-header-hides-second', 'vhd', _damaged_header_hides_second,
     'damaged header'),
    ('tar-gnu-long-name-alias', 'vhd', _gnu_long_name_alias,
     'GNU long name'),
    ('tar-huge-long-name', 'vhd', _huge_record(b'L', 256 * MiB),
     'GNU long name'),
    ('tar-huge-pax-record', 'vhd', _huge_record(b'x', 256 * MiB), 'pax'),
    ('tar-size-with-sign', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes(), size=b'+%010o\0' % len(_tap_vhd_bytes()))),
     'not an octal number'),
    ('tar-size-negative', 'vhd', _tar_raw(lambda d: _header(
        size=b'\xff' * 12) + bytes(4 * TAR_BLOCK)), 'negative'),
    ('tar-bad-checksum', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes(), checksum=b'0000000\0')), 'checksum'),
    ('tar-name-prefix', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes(), magic=b'ustar\0', version=b'00',
        prefix=b'elsewhere')), 'prefix'),
    ('tar-name-hidden-after-nul', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes(), name=b'0.vhd\0../../x')), 'after its end'),
    ('tar-setuid-member', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes(), mode=b'0004755\0')), 'setuid'),
    ('tar-trailing-gzip-member', 'vhd', _trailing_gzip_member,
     'after the first gzip member'),
    ('tar-garbage-after-end', 'vhd', _tar_raw(lambda d: tar_bytes(
        _tap_vhd_bytes()) + b'x' * TAR_BLOCK), 'data after 0.vhd'),
    ('tap-tarball-above-cap', 'vhd', _tap_tarball(2 * TiB - 96 * 1024 ** 3),
     'virtual size'),
    ('tap-every-block-shared', 'vhd', _vhd_every_block_shared,
     'expansion budget'),
    ('vmdk-truncated', 'vmdk', _truncated('vmdk'), 'truncated or damaged'),
    ('vdi-truncated', 'vdi', _truncated('vdi'), 'truncated or damaged'),
    ('qcow2-truncated-data', 'qcow2', _truncated('qcow2', 4 * MiB),
     'truncated'),
    ('vhd-footer-copies-differ', 'vhd', _vhd_footers_differ,
     'footer differ'),
    ('vhd-end-footer-lost', 'vhd', _vhd_end_footer_lost, 'truncated'),
    ('vmdk-capacity-zero-sibling', 'vmdk',
     _vmdk_embedded_descriptor(_SIBLING_FLAT, capacity=0), 'capacity 0'),
    ('vmdk-embedded-create-type-case', 'vmdk',
     _vmdk_embedded_descriptor(_SIBLING_FLAT), 'create type'),
    ('vmdk-text-descriptor-variant', 'vmdk', _vmdk_text_descriptor_variant,
     'vmdk'),
    ('vmdk-huge-grain', 'vmdk', _vmdk_huge_grain, 'grain'),
    ('vhd-shared-pointer-bomb', 'vhd', _vhd_bomb(1000 * MiB),
     'expansion budget'),
    ('qcow2-shared-pointer-bomb', 'qcow2', _qcow2_bomb(1000 * MiB),
     'expansion budget'),
    ('vmdk-shared-pointer-bomb', 'vmdk', _vmdk_bomb(1000 * MiB),
     'expansion budget'),
    ('vhdx-shared-pointer-bomb', 'vhdx', _vhdx_bomb(1000 * MiB),
     'expansion budget'),
    ('gzip-bomb-beyond-cap', 'vhd', _gzip_bomb(1536 * MiB),
     'beyond the limit'),
    ('gzip-bomb-ratio', 'vhd', _gzip_bomb(600 * MiB), 'beyond the limit'),
]


def build(name, directory):
    """Write case ``name`` into ``directory``; return its path."""
    for case in CASES:
        if case[0] == name:
            return case[2](directory)
    raise KeyError(name)


def add_case_tests(cls, check, prefix='test_'):
    """Give ``cls`` one test per case, each calling ``cls.<check>(*case)``."""
    for case in CASES:
        def test(self, case=case):
            getattr(self, check)(*case)
        setattr(cls, prefix + case[0].replace('-', '_'), test)


# Cases whose content is legitimate in another format: with
# --source-format auto they are not refused.
MISLABELLED = ('claims-qcow2-is-raw', 'claims-raw-is-qcow2', 'gzip-archive',
               'bare-tar-claimed-raw')


def gpt_disk(d, size=8 * MiB):
    """A raw disk with a protective MBR and a GPT header (accepted)."""
    path = os.path.join(d, 'gpt.raw')
    sectors = size // 512
    mbr = bytearray(512)
    # One partition entry: type 0xEE spanning the disk, as GPT tools write.
    struct.pack_into('<B3sB3sII', mbr, 446, 0, b'\x00\x02\x00', 0xEE,
                     b'\xff\xff\xff', 1, min(sectors - 1, 0xFFFFFFFF))
    mbr[510:512] = b'\x55\xaa'
    header = bytearray(512)
    struct.pack_into('<8sII', header, 0, b'EFI PART', 0x00010000, 92)
    with open(path, 'wb') as f:
        f.truncate(size)
        f.write(mbr + header)
        f.seek(MiB)
        f.write(images.pattern('gpt', 64 * 1024))
    return path
