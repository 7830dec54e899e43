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

"""The head-last gzip stream is one valid gzip member, whatever the sizes."""

import gzip
import io
import os
import zlib

import fixtures
import testtools

from xenimage_import import pack


def _sink_output(head, body_chunks, level):
    out = io.BytesIO()
    sink = pack.TarballSink(out, len(head), level, threads=2)
    for chunk in body_chunks:
        sink.write(chunk)
    sink.finish(head)
    return out.getvalue()


class TarballSinkTest(testtools.TestCase):

    def check(self, head_size, body_size, level):
        head = os.urandom(head_size)
        body = os.urandom(body_size // 2) + bytes(body_size - body_size // 2)
        chunks = [body[i:i + 300000] for i in range(0, len(body), 300000)]
        data = _sink_output(head, chunks, level)
        # zlib checks the CRC and length; unused_data proves one member.
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.assertEqual(head + body, inflate.decompress(data))
        self.assertTrue(inflate.eof)
        self.assertEqual(b'', inflate.unused_data)
        self.assertEqual(head + body, gzip.decompress(data))

    def test_small_head_isal(self):
        self.check(512, 3 * 1024 * 1024, 1)

    def test_head_of_exactly_one_stored_block(self):
        self.check(65535, 1024 * 1024, 1)

    def test_head_spanning_stored_blocks_zlib_ng(self):
        self.check(65536 * 3 + 17, 2 * 1024 * 1024 + 5, 6)

    def test_stored_size_matches_encoding(self):
        for n in (1, 512, 65535, 65536, 200000):
            self.assertEqual(pack.stored_size(n),
                             len(pack.stored_blocks(bytes(n))))

    def test_head_of_the_wrong_size_is_refused(self):
        sink = pack.TarballSink(io.BytesIO(), 100)
        sink.write(b'x')
        self.assertRaises(ValueError, sink.finish, b'y' * 99)
        sink.abort()


class AtomicOutputTest(testtools.TestCase):

    def test_failure_leaves_nothing(self):
        d = self.useFixture(fixtures.TempDir()).path
        dest = os.path.join(d, 'out.tgz')

        def fail():
            with pack.atomic_output(dest) as f:
                f.write(b'partial')
                raise RuntimeError('boom')

        self.assertRaises(RuntimeError, fail)
        self.assertEqual([], os.listdir(d))

    def test_success_renames_into_place(self):
        d = self.useFixture(fixtures.TempDir()).path
        dest = os.path.join(d, 'out.tgz')
        with pack.atomic_output(dest) as f:
            f.write(b'done')
        self.assertEqual(['out.tgz'], os.listdir(d))
        with open(dest, 'rb') as f:
            self.assertEqual(b'done', f.read())
