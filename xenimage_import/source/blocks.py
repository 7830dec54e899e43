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

"""What every reader of a source image offers the VHD writer."""


class BlockSource(object):
    """A source image read as its non-zero 2 MiB blocks.

    Subclasses set ``size`` (the disk's bytes) and provide
    ``data_blocks(progress)``, ``candidate_bytes()`` and ``close()``; as a
    context manager the source is closed however the block ends.
    """

    size = 0

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
