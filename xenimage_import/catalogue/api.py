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

"""The Glance v2 calls the catalogue commands make, and nothing else.

Plain HTTP over a keystoneauth session, so that one code path serves
every Glance from Ussuri (Glance 20) on: image listing with ``next``
links, ranged reads of the data, staging and the ``glance-direct``
import, members, JSON-patch updates.
"""

import json
import re

from keystoneauth1 import exceptions as ks_exceptions
import requests
import urllib3

# Images per listing request; Glance caps it at its api_limit_max (1000
# by default).
PAGE_SIZE = 100
CHUNK = 1024 * 1024
_PATCH_TYPE = 'application/openstack-images-v2.1-json-patch'
# Hidden images are listed only when asked for, and then only they are.
_HIDDEN_LISTINGS = ('false', 'true')
# A busy Glance answers 5xx now and then (a locked SQLite, a proxy);
# calls that can be repeated are, a few times.
_IDEMPOTENT = ('GET', 'DELETE')
_RETRIES = 3
_RETRIED_STATUSES = (500, 502, 503, 504)
# Attributes every image has: replaced, where properties are added.
_ATTRIBUTES = frozenset(('name', 'visibility', 'protected', 'os_hidden',
                         'min_disk', 'min_ram', 'tags'))


def _plain(body):
    """Glance's error page as one short line: its message, no markup.

    Glance answers errors with webob's HTML page (a title and a heading
    that repeat the status, then the message) or with JSON.
    """
    text = re.sub(r'<(title|h1)>.*?</\1>|<[^>]*>', ' ', body, flags=re.S)
    return ' '.join(text.split())[:200]


class GlanceError(Exception):
    """Glance answered with an error; one line for the operator."""

    def __init__(self, method, path, response):
        self.status = response.status_code
        # An empty answer (204: the store has no data for it) by its name.
        detail = _plain(response.text or '') or response.reason or ''
        super().__init__('Glance refused %s %s: HTTP %d %s'
                         % (method, path, self.status, detail))


# What one image's calls can end in, short of Glance being gone: its
# refusal, or a connection that broke while its data streamed.
ERRORS = (GlanceError, ks_exceptions.ClientException,
          requests.RequestException, urllib3.exceptions.HTTPError)


class Glance(object):
    """Glance's image API at ``endpoint``, through ``session``."""

    def __init__(self, session, endpoint, page_size=PAGE_SIZE):
        self.session = session
        self.page_size = page_size
        endpoint = endpoint.rstrip('/')
        if endpoint.endswith('/v2'):
            endpoint = endpoint[:-len('/v2')]
        self.endpoint = endpoint

    def _call(self, method, path, expect=(200,), **kwargs):
        if method in _IDEMPOTENT:
            kwargs.update(status_code_retries=_RETRIES,
                          retriable_status_codes=_RETRIED_STATUSES)
        answer = self.session.request(self.endpoint + path, method,
                                      raise_exc=False, **kwargs)
        if answer.status_code not in expect:
            raise GlanceError(method, path.split('?')[0], answer)
        return answer

    def images(self, **filters):
        """Every image the filters select, hidden ones included.

        Every visibility unless one is given: Glance's default listing
        leaves out other projects' community images.
        """
        filters.setdefault('visibility', 'all')
        for hidden in _HIDDEN_LISTINGS:
            params = dict(filters, limit=self.page_size, os_hidden=hidden)
            path = '/v2/images'
            while path:
                page = self._call('GET', path, params=params).json()
                for image in page.get('images', ()):
                    yield image
                path, params = page.get('next'), None

    def image(self, image_id):
        return self._call('GET', '/v2/images/%s' % image_id).json()

    def find(self, image_id):
        """The image, or None once it is gone."""
        answer = self._call('GET', '/v2/images/%s' % image_id,
                            expect=(200, 404))
        return answer.json() if answer.status_code == 200 else None

    def head(self, image, size):
        """The first ``size`` bytes of the data (fewer if it is shorter).

        Asked for as a range within the data (Glance refuses one past
        its end); a Glance or store that sends the whole data anyway is
        read only that far.
        """
        size = min(size, image.get('size') or 0)
        if not size:
            return b''
        with self.data(image['id'], headers={
                'Range': 'bytes=0-%d' % (size - 1)}) as answer:
            found = bytearray()
            for chunk in answer.iter_content(min(size, CHUNK)):
                found += chunk
                if len(found) >= size:
                    break
            return bytes(found[:size])

    def data(self, image_id, headers=None):
        """The data as a streamed response (a context manager)."""
        return self._call('GET', '/v2/images/%s/file' % image_id,
                          expect=(200, 206), stream=True,
                          headers=headers or {})

    def create(self, fields):
        return self._call('POST', '/v2/images', expect=(201,),
                          json=fields).json()

    def stage_from(self, image_id, source_id):
        """Stage ``source_id``'s data for ``image_id``, streamed through.

        Read and sent a chunk at a time: nothing is kept here.
        """
        with self.data(source_id) as answer:
            self._call('PUT', '/v2/images/%s/stage' % image_id,
                       expect=(204,), data=answer.iter_content(CHUNK),
                       headers={'Content-Type': 'application/octet-stream'})

    def import_staged(self, image_id):
        self._call('POST', '/v2/images/%s/import' % image_id, expect=(202,),
                   json={'method': {'name': 'glance-direct'}})

    def members(self, image_id):
        return self._call('GET', '/v2/images/%s/members'
                          % image_id).json().get('members', [])

    def add_member(self, image_id, member, status):
        self._call('POST', '/v2/images/%s/members' % image_id,
                   json={'member': member})
        if status != 'pending':
            # Only the member itself or an admin may set its status.
            self._call('PUT', '/v2/images/%s/members/%s' % (image_id, member),
                       json={'status': status})

    def update(self, image_id, values):
        """Set (or with None, remove) attributes and properties."""
        ops = [{'op': 'remove', 'path': '/%s' % key} if value is None else
               {'op': 'replace' if key in _ATTRIBUTES else 'add',
                'path': '/%s' % key, 'value': value}
               for key, value in sorted(values.items())]
        return self._call('PATCH', '/v2/images/%s' % image_id,
                          data=json.dumps(ops),
                          headers={'Content-Type': _PATCH_TYPE}).json()

    def deactivate(self, image_id):
        self._call('POST', '/v2/images/%s/actions/deactivate' % image_id,
                   expect=(204,))

    def delete(self, image_id):
        self._call('DELETE', '/v2/images/%s' % image_id, expect=(204, 404))

    def import_tasks(self, image_id):
        """The image's import tasks, oldest first; None before Glance 21.

        The image tasks API came after Ussuri.
        """
        answer = self._call('GET', '/v2/images/%s/tasks' % image_id,
                            expect=(200, 404))
        if answer.status_code != 200:
            return None
        return sorted(answer.json().get('tasks', ()),
                      key=lambda t: t.get('created_at') or '')
