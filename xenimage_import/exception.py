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

"""Errors with messages a user can act on.

The command-line tools print ``str(error)`` as their one-line reason and the
Glance plugin puts it in the task message, so every message names the
problem and, where there is one, the way out.
"""

import re
import sys

# Absolute paths in messages, quoted or bare.
# (not the // of a URL, which names a host, not a file)
_PATH = re.compile(r"'/[^']*'|\"/[^\"]*\"|(?<![\w.:/])/[\w.@%+=:,/-]+")


def scrub_paths(message, paths=()):
    """``message`` without server paths, for Glance users.

    ``paths`` become "the image", any other absolute path "a file".
    """
    for path in paths:
        message = message.replace("'%s'" % path, 'the image')
        message = message.replace(path, 'the image')
    return _PATH.sub('a file', message)


def configuration_errors():
    """oslo.config's error class, once something has loaded oslo.config.

    The commands and the plugin's worker import it only to read files
    (start-up counts), and before that no configuration error can arise.
    """
    cfg = sys.modules.get('oslo_config.cfg')
    return (cfg.Error,) if cfg else ()


def human_size(size):
    """``1.5 GiB``-style rendering for summaries and messages."""
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(size) < 1024 or unit == 'TiB':
            return ('%d %s' % (size, unit) if unit == 'bytes'
                    else '%.1f %s' % (size, unit))
        size /= 1024.0


class XenImageError(Exception):
    """Base class: a refusal or failure with a one-line reason."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class UnsafeImage(XenImageError):
    """The upload asks for something that must never be processed."""


class FormatMismatch(XenImageError):
    def __init__(self, claimed, detected):
        super().__init__(
            'image claims to be %s but its content is %s; upload it with '
            'the right disk format' % (claimed, detected))
        self.claimed = claimed
        self.detected = detected


class UnsupportedFormat(XenImageError):
    """A format that is not converted (or not allowed by configuration)."""


class ImageTooLarge(XenImageError):
    def __init__(self, size, limit, what='the configured limit'):
        super().__init__(
            'virtual size %d bytes (%s) is above %s of %d bytes (%s)'
            % (size, human_size(size), what, limit, human_size(limit)))
        self.size = size
        self.limit = limit


class ImageTooSmall(XenImageError):
    def __init__(self, size):
        super().__init__('image is empty (virtual size %d bytes)' % size)


class ConversionFailed(XenImageError):
    """A decoder (qemu-img) or the output side failed."""


class OutputFailed(ConversionFailed):
    """Writing the output failed (disk full, permissions)."""


class InvalidImage(XenImageError):
    """The data is damaged or not what its headers say."""


class HelperNotFound(XenImageError):
    pass


class NoPreflightChecks(XenImageError):
    """The helper has nothing to check before converting."""


class ArchiveError(XenImageError):
    """A tarball outside the one accepted shape; the message says why."""


class Unreadable(ArchiveError):
    """The gzip stream itself cannot be read."""


class TruncatedVhd(XenImageError):
    """The stream ended before a structure its headers point to."""
