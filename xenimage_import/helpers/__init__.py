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

"""Conversion helpers: who turns an inspected source into a tap VHD.

``local`` (the default) is built in and writes the VHD itself. Every
other helper is a driver loaded with stevedore from the entry point group
``xenimage_import.helpers``: ``xenserver`` has a XenServer host's storage
write it. Callers (the CLI, the Glance plugin) build a
:class:`ConversionRequest` and never need to know which helper serves it.
"""

import abc
import dataclasses
import typing

from xenimage_import import exception
from xenimage_import import pack

NAMESPACE = 'xenimage_import.helpers'
# The built-in writer: found without stevedore, whose entry point scan
# (importlib.metadata, the cache of every installed distribution) is
# some 35 ms, a quarter of the command's start-up.
BUILT_IN = 'local'
OUTPUT_TARBALL = 'tgz'
OUTPUT_VHD = 'vhd'


@dataclasses.dataclass
class ConversionRequest(object):
    """One conversion: an inspected source and where its output goes.

    :param source: a :class:`xenimage_import.source.inspect.SourceImage`.
    :param destination: the output path; it exists only once complete.
    :param output: ``tgz`` (the image tarball) or ``vhd`` (a bare VHD).
    :param work_prefix: name prefix of work files (``<image_id>.``).
    :param progress: ``progress(phase, done, total)`` callable, or None.
    :param inspect_guest: whether the guest inspector reads the blocks
        as they pass (advisory: the output is the same either way).
    """

    source: typing.Any
    destination: str
    output: str = OUTPUT_TARBALL
    level: int = pack.DEFAULT_LEVEL
    threads: int = 0
    work_prefix: typing.Optional[str] = None
    progress: typing.Optional[typing.Callable] = None
    inspect_guest: bool = True


@dataclasses.dataclass
class ConversionResult(object):
    helper: str
    source_format: str
    requested_size: int
    virtual_size: int
    blocks_total: int
    blocks_stored: int
    vhd_size: int
    output_size: int
    seconds: float
    # What the disk holds (xenimage_import.guest.inspector report),
    # learned during the conversion's pass; None where it was not read.
    guest: dict = None

    @property
    def rounded_up(self):
        return self.virtual_size - self.requested_size

    def as_dict(self):
        data = dataclasses.asdict(self)
        data['rounded_up'] = self.rounded_up
        return data


CHECK_OK, CHECK_FAILED, CHECK_SKIPPED = 'ok', 'FAILED', 'skipped'
# Worth reading, but does not stop conversions.
CHECK_WARNING = 'warning'


@dataclasses.dataclass
class PreflightCheck(object):
    """One check of a helper's setup: its name, status and what it saw."""

    name: str
    status: str
    detail: str


@dataclasses.dataclass
class PreflightVerdict(object):
    """The checks of one target of a helper (a XenServer host)."""

    name: str
    url: str
    checks: typing.List[PreflightCheck]

    @property
    def ready(self):
        return all(c.status in (CHECK_OK, CHECK_WARNING)
                   for c in self.checks)

    def as_dict(self):
        return {'host': self.name, 'url': self.url, 'ready': self.ready,
                'checks': [dataclasses.asdict(c) for c in self.checks]}


class Helper(metaclass=abc.ABCMeta):
    """A conversion driver."""

    name = None

    def __init__(self, conf=None):
        """:param conf: the oslo.config ConfigOpts holding the options."""
        self.conf = conf

    @abc.abstractmethod
    def convert(self, request):
        """Write the output for ``request``; return a ConversionResult.

        Raises :class:`xenimage_import.exception.XenImageError` with a
        one-line reason; leaves nothing at the destination on failure.
        """

    def preflight(self):
        """Check the helper's setup without converting anything.

        :returns: a list of :class:`PreflightVerdict`.
        """
        raise exception.NoPreflightChecks('helper %s has no pre-flight '
                                          'checks' % self.name)


class _LoadFailed(Exception):
    """A registered helper that would not load, and where it lives."""

    def __init__(self, module, error):
        super().__init__(module, error)
        self.module = module
        self.error = error


def _load_failed(manager, entry_point, error):
    # stevedore's entry points are importlib.metadata's (module) or, on
    # Ussuri's stevedore, pkg_resources' (module_name).
    module = (getattr(entry_point, 'module_name', None)
              or entry_point.value.split(':')[0])
    raise _LoadFailed(module, error)


def load(name, conf=None):
    """Instantiate the built-in helper, or the one registered as ``name``.

    :param conf: the ConfigOpts the helper reads its options from.
    """
    if name == BUILT_IN:
        from xenimage_import.helpers.local import driver as local
        return local.LocalHelper(conf=conf)
    from stevedore import driver
    from stevedore import exception as stevedore_exception
    try:
        manager = driver.DriverManager(
            NAMESPACE, name, invoke_on_load=True, invoke_kwds={'conf': conf},
            on_load_failure_callback=_load_failed)
    except _LoadFailed as e:
        if isinstance(e.error, ImportError):
            # Helpers shipped here keep their packages in an extra.
            hint = ('pip install "xenimage_import[%s]"' % name
                    if e.module.startswith(__name__ + '.') else
                    'install the package that provides it')
            raise exception.HelperNotFound(
                'conversion helper %r needs packages that are not '
                'installed (%s): %s' % (name, e.error, hint))
        error = e.error
    except stevedore_exception.NoMatches:
        raise exception.HelperNotFound(
            'no conversion helper named %r is installed (%r is built in; '
            'others register in the %s entry point group)'
            % (name, BUILT_IN, NAMESPACE))
    except Exception as e:
        error = e
    else:
        return manager.driver
    raise exception.HelperNotFound(
        'conversion helper %r could not be loaded: %s' % (name, error))
