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

"""Glance's staging area, reached the way Glance itself reaches it.

With ``enabled_backends`` set, staged data belongs to glance_store's
reserved ``os_glance_staging_store``: its location is parsed and its data
deleted through that store, as Glance's ``_DeleteFromFS`` and
``_unstage`` do. Without it (the single-store configuration), staged data
is a file under ``node_staging_uri`` and is removed as a file.

Either way the staged URI must name a local file: conversion reads it and
writes its work files beside it. Work files are the plugin's own and are
removed as files; only the staged upload goes through the store.
"""

import glance_store
from glance_store import location as store_location
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import fileutils

from xenimage_import import exception

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

STAGING_STORE = 'os_glance_staging_store'
_FILE_SCHEME = 'file://'


def _multi_store():
    return bool(getattr(CONF, 'enabled_backends', None))


def local_path(uri):
    """The local path of staged data ``uri`` (``file://...``).

    :raises exception.XenImageError: the staging area is not a local
        directory (xenimage_import reads the staged file itself).
    """
    if not uri.startswith(_FILE_SCHEME):
        # A bare path: Glance hands out URIs, the CLI and tests paths.
        if uri.startswith('/'):
            return uri
        raise exception.XenImageError(
            'the staging area is not a local directory (%s); '
            'xenimage_import needs a file:// staging area'
            % uri.split(':', 1)[0])
    if _multi_store():
        try:
            location = store_location.get_location_from_uri_and_backend(
                uri, STAGING_STORE, conf=CONF)
        except glance_store.exceptions.GlanceStoreException as e:
            raise exception.XenImageError(
                'staged data is outside %s: %s' % (STAGING_STORE, e))
        return location.store_location.path
    return uri[len(_FILE_SCHEME):]


def delete(uri):
    """Delete staged data as Glance does; a missing file is not an error."""
    if not uri:
        return
    if _multi_store() and uri.startswith(_FILE_SCHEME):
        try:
            glance_store.delete(uri, STAGING_STORE)
        except glance_store.exceptions.NotFound:
            LOG.debug('Staged data already gone')
        return
    fileutils.delete_if_exists(local_path(uri))
