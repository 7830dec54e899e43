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

"""Open what a user named as input, refusing anything but a regular file.

A FIFO blocks ``open()`` until a writer comes and a device never ends, so
checking after a plain open is too late and checking before it races a
rename. The file is opened without blocking and judged by the descriptor
it gave: what is judged is what is read.
"""

import fcntl
import os
import stat

from xenimage_import import exception

NOT_REGULAR = 'the image is not a regular file'


def open_fd(path):
    """A blocking read-only descriptor of the regular file at ``path``.

    :raises exception.InvalidImage: ``path`` is a FIFO, device, socket or
        directory (symlinks are followed, as every reader would).
    :raises OSError: it cannot be opened at all.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise exception.InvalidImage(NOT_REGULAR)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path):
    """:func:`open_fd` as a binary file object."""
    return os.fdopen(open_fd(path), 'rb')
