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

"""The project's own header reader: what it names, what it refuses."""

import os
import shutil
import tempfile

import testtools

from lab import images
from tests import hostile
from xenimage_import import exception
from xenimage_import.source import headers
from xenimage_import.source import inspect

MiB = 1024 * 1024
CORPUS = os.path.join(os.path.dirname(__file__), '..', 'fuzz', 'corpus')


class SniffTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='xenimage-headers-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def _made_by_qemu(self, fmt, size=8 * MiB):
        raw = images.make_sparse(os.path.join(self.dir, 'src.raw'), size,
                                 [(0, MiB)])
        return images.qemu_convert(raw, os.path.join(self.dir, 'img.' + fmt),
                                   fmt)

    def test_names_each_format_qemu_writes(self):
        for qemu_name, name in (('qcow2', 'qcow2'), ('vmdk', 'vmdk'),
                                ('vdi', 'vdi'), ('vhdx', 'vhdx'),
                                ('vpc', 'vhd'), ('raw', 'raw')):
            self.assertEqual(name, headers.sniff(
                self._made_by_qemu(qemu_name)).name, qemu_name)

    def test_reads_the_declared_size_where_the_header_holds_it(self):
        for fmt in ('qcow2', 'vmdk', 'vdi'):
            self.assertEqual(12 * MiB, headers.sniff(
                self._made_by_qemu(fmt, 12 * MiB)).virtual_size, fmt)

    def test_refuses_a_file_with_two_formats_signatures(self):
        head = bytearray(headers.HEAD_SIZE)
        head[0:4] = b'QFI\xfb'
        head[headers.ISO_DESCRIPTOR_OFFSET + 1:
             headers.ISO_DESCRIPTOR_OFFSET + 6] = b'CD001'
        e = self.assertRaises(exception.UnsafeImage, headers.sniff_bytes,
                              bytes(head))
        self.assertIn('both qcow2 and iso', str(e))

    def test_a_hybrid_iso_is_a_raw_disk(self):
        head = bytearray(headers.HEAD_SIZE)
        head[510:512] = headers.MBR_SIGNATURE
        head[headers.ISO_DESCRIPTOR_OFFSET + 1:
             headers.ISO_DESCRIPTOR_OFFSET + 6] = b'CD001'
        self.assertEqual('iso', headers.sniff_bytes(bytes(head)).name)
        self.assertIn('iso', headers.RAW_FAMILY)

    def test_names_partition_tables(self):
        self.assertEqual('gpt', headers.sniff(hostile.gpt_disk(self.dir)).name)
        head = bytearray(4096)
        head[510:512] = headers.MBR_SIGNATURE
        self.assertEqual('mbr', headers.sniff_bytes(bytes(head)).name)

    def test_refuses_vmdk_text_descriptors_in_any_layout(self):
        for text in (b'# Disk DescriptorFile\n',
                     b'# a comment\n\n  version=1\nRW 8 FLAT "x" 0\n',
                     b'version=3\r\nRW 8 FLAT "x" 0\r\n',
                     b'CID=1\ncreateType="monolithicFlat"\n'):
            self.assertRaises(exception.UnsafeImage, headers.sniff_bytes,
                              text)

    def test_other_text_is_raw_data(self):
        self.assertEqual('raw', headers.sniff_bytes(
            b'#!/bin/sh\nversion=12\necho hello\n').name)


class SecondReaderTest(testtools.TestCase):
    """Where oslo.utils has format_inspector, both readers must agree."""

    def setUp(self):
        super().setUp()
        if inspect.format_inspector is None:
            self.skipTest('this oslo.utils has no format_inspector')

    def test_both_readers_name_every_corpus_file_alike(self):
        differ = []
        for sub in sorted(os.listdir(CORPUS)):
            for name in sorted(os.listdir(os.path.join(CORPUS, sub))):
                path = os.path.join(CORPUS, sub, name)
                try:
                    ours = headers.sniff(path).name
                    theirs = inspect.format_inspector.detect_file_format(
                        path).NAME
                except Exception:
                    continue     # a refusal by either: nothing to compare
                if inspect._family(ours) != inspect._family(theirs):
                    differ.append((sub, name, ours, theirs))
        self.assertEqual([], differ)
