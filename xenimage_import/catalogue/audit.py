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

"""The whole catalogue judged, page by page, a few images at a time."""

import concurrent.futures
import contextlib
import dataclasses
import threading
import typing

from xenimage_import.catalogue import api
from xenimage_import.catalogue import verdict as V
from xenimage_import import publish

# Filters an operator names on the command line, as Glance's list API
# takes them.
FILTERS = ('owner', 'visibility', 'name', 'status')


@dataclasses.dataclass
class Row(object):
    """One image and its verdict."""

    image: dict
    verdict: V.Verdict
    copy: typing.Optional[str] = None    # the active corrected copy

    def as_dict(self):
        image = self.image
        return dict(self.verdict.as_dict(), id=image['id'],
                    name=image.get('name'), owner=image.get('owner'),
                    status=image.get('status'),
                    disk_format=image.get('disk_format'),
                    container_format=image.get('container_format'),
                    repaired_by=self.copy)


def copies_of(glance, image_id):
    """The corrected copies made of ``image_id``, in any status.

    Checked here too: a Glance that ignored the filter must not make
    every image look like a copy (the repair removes incomplete ones).
    """
    key = publish.REPAIRED_FROM_PROPERTY
    return [image for image in glance.images(**{key: image_id})
            if image.get(key) == image_id]


def judge(glance, image, deep=False, counted=None):
    """The verdict on ``image``, reading only what it needs.

    :param counted: called with each number of bytes read (``--deep``).
    """
    found = V.from_record(image)
    if found is not None:
        return found
    if deep:
        with contextlib.ExitStack() as opened:
            def fresh():
                answer = opened.enter_context(glance.data(image['id']))
                return V.Hashed(answer.raw, image, counted)
            return V.from_stream(image, fresh(), second_pass=fresh)
    for size in V.HEAD_SIZES:
        head = glance.head(image, size)
        try:
            return V.from_head(image, head)
        except V.NeedMore:
            if len(head) < size:
                return V.Verdict(V.NOT_CONVERTIBLE,
                                 ['the data ends inside its first headers'])
    return V.Verdict(V.UNJUDGED, ['its first %d KiB do not reach 0.vhd\'s '
                                  'footer: run with --deep'
                                  % (V.HEAD_SIZES[-1] // 1024)])


def _row(glance, image, deep, counted):
    try:
        found = judge(glance, image, deep, counted)
    except api.ERRORS as e:
        # One unreadable image (a store down, a lost link) is a row, and
        # the audit goes on.
        return Row(image, V.Verdict(V.UNJUDGED, [
            'its data could not be read: %s' % e]))
    if found.verdict in (V.FIXABLE, V.NOT_CONVERTIBLE):
        active = [c['id'] for c in copies_of(glance, image['id'])
                  if c.get('status') == 'active']
        if active:
            return Row(image, V.Verdict(V.REPAIRED, [
                'corrected copy %s is active' % active[0]] + found.reasons),
                active[0])
    return Row(image, found)


class Stopped(Exception):
    """The audit was interrupted: reads in flight end at their next chunk."""


def audit(glance, images, deep=False, concurrency=4, counted=None):
    """Yield a :class:`Row` per image of ``images``, in their order.

    At most ``concurrency`` images are read at once, and at most twice as
    many listed ahead of them. Interrupted (Ctrl-C, a signal), it stops
    the reads in flight instead of waiting for whole images.
    """
    stopping = threading.Event()

    def count(nbytes):
        if stopping.is_set():
            raise Stopped()
        if counted:
            counted(nbytes)
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        pending = []
        try:
            for image in images:
                pending.append(pool.submit(_row, glance, image, deep,
                                           count))
                if len(pending) >= 2 * concurrency:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
        except BaseException:
            stopping.set()
            for future in pending:
                future.cancel()
            raise
