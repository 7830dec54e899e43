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

"""A corrected copy of a fixable image, made through the import API.

The copy is created with the original's name, visibility, tags,
properties, owner and members, its data staged from the original's and
imported with ``glance-direct``, so the plugin converts it with every
check it makes on an upload. The copy records the original's id
(:data:`publish.REPAIRED_FROM_PROPERTY`); the original is never deleted,
only hidden or deactivated when asked.

Glance is the only state: a rerun finds the copies by that property. An
active copy means done; a copy still importing is waited for; any other
copy is what an interrupted run left (created, partly staged) and is
removed before the copy is made again.
"""

import contextlib
import dataclasses
import logging
import time

from xenimage_import.catalogue import api
from xenimage_import.catalogue import audit
from xenimage_import.catalogue import verdict as V
from xenimage_import import publish

LOG = logging.getLogger(__name__)

REPAIRED = 'repaired'
ALREADY = 'already-repaired'
WOULD = 'would-repair'
FAILED = 'failed'
SKIPPED = 'skipped'

# A copy's statuses from the import call until it is active or failed
# (back to queued).
_IMPORTING = ('uploading', 'importing', 'saving')
_UNFINISHED_TASKS = ('pending', 'processing')
POLL_SECONDS = 1.0
# What Glance computes, the plugin sets, or describes the old data; the
# rest of the record is carried over.
_NOT_CARRIED = frozenset((
    'id', 'status', 'created_at', 'updated_at', 'checksum', 'size',
    'virtual_size', 'direct_url', 'locations', 'file', 'schema', 'self',
    'stores', 'protected', 'os_hash_algo', 'os_hash_value', 'disk_format',
    'container_format', publish.SOURCE_FORMAT_PROPERTY,
    publish.INSPECTION_PROPERTY, publish.REPAIRED_FROM_PROPERTY))
# Glance's reserved namespace, and what clients record about the upload.
_NOT_CARRIED_PREFIXES = ('os_glance_', 'owner_specified.')


@dataclasses.dataclass
class Result(object):
    id: str
    name: str
    action: str
    copy: str = None
    detail: str = ''

    def as_dict(self):
        return dataclasses.asdict(self)


def copy_fields(image):
    """The new image's record: the original's, corrected where judged."""
    fields = {k: v for k, v in image.items()
              if k not in _NOT_CARRIED and v is not None
              and not k.startswith(_NOT_CARRIED_PREFIXES)}
    if V.vm_mode_problems(image) and image.get('vm_mode'):
        # An unknown or inconsistent vm_mode: the plugin's rule decides.
        del fields['vm_mode']
    tarball = V.is_tarball(image)
    fields.update(disk_format=image['disk_format'],
                  container_format=(publish.CONTAINER_FORMAT if tarball
                                    else 'bare'),
                  **{publish.REPAIRED_FROM_PROPERTY: image['id']})
    return fields


class Repairer(object):
    """Repair images one at a time.

    :param hide: hide the original (``os_hidden``) once the copy is active.
    :param deactivate: deactivate the original once the copy is active.
    :param timeout: seconds to wait for one import.
    """

    def __init__(self, glance, dry_run=False, hide=False, deactivate=False,
                 timeout=3600):
        self.glance = glance
        self.dry_run = dry_run
        self.hide = hide
        self.deactivate = deactivate
        self.timeout = timeout
        self.making = None              # a copy not yet handed to Glance

    def repair(self, image, found):
        """Repair ``image`` if ``found`` says it is fixable: a Result.

        Glance refusing a step, or a link breaking, fails this image
        alone: the copy being made is removed and the run goes on.
        """
        try:
            return self._repair(image, found)
        except api.ERRORS as e:
            self.abandon()
            return Result(image['id'], image.get('name'), FAILED,
                          detail=str(e))

    def _repair(self, image, found):
        result = Result(image['id'], image.get('name'), SKIPPED)
        original = image.get(publish.REPAIRED_FROM_PROPERTY)
        if original:
            result.detail = 'the corrected copy of %s' % original
            return result
        resumed = self._resume(image, result)
        if resumed:
            return resumed
        if found.verdict != V.FIXABLE:
            result.detail = '%s: %s' % (found.verdict,
                                        '; '.join(found.reasons))
            return result
        fields = copy_fields(image)
        if self.dry_run:
            result.action = WOULD
            result.detail = '; '.join(
                [d for d in (result.detail,) if d]
                + self._plan(image, fields) + found.reasons)
            return result
        return self._make(image, fields, result)

    def _resume(self, image, result):
        """Finish, adopt or clear what an earlier run left; None if none."""
        notes = []
        for copy in audit.copies_of(self.glance, image['id']):
            if copy['status'] == 'active':
                result.action, result.copy = ALREADY, copy['id']
            elif self._importing(copy):
                if self.dry_run:
                    notes.append('copy %s is importing: a run waits for it'
                                 % copy['id'])
                    continue
                LOG.info('Image %s: waiting for the import of copy %s '
                         'that an earlier run started', image['id'],
                         copy['id'])
                return self._settle(image, copy['id'], result,
                                    'resumed: an earlier run\'s import')
            elif self.dry_run:
                notes.append('would remove incomplete copy %s' % copy['id'])
            else:
                LOG.info('Image %s: removing incomplete copy %s (%s) of an '
                         'interrupted run', image['id'], copy['id'],
                         copy['status'])
                self._remove(copy)
                notes.append('removed incomplete copy %s' % copy['id'])
        if result.action == ALREADY:
            self._finish_original(image, result)
            return result
        result.detail = '; '.join(notes)
        return None

    def _importing(self, copy):
        """Whether Glance is still importing ``copy``.

        After the import call a copy stays ``uploading`` until its task
        starts; where Glance lists image tasks, an unfinished one tells.
        """
        if copy['status'] == 'importing':
            return True
        if copy['status'] != 'uploading':
            return False
        tasks = self.glance.import_tasks(copy['id']) or ()
        return any(t.get('status') in _UNFINISHED_TASKS for t in tasks)

    def _plan(self, image, fields):
        """What a real run would do, step by step."""
        steps = ['copy as %s/%s through glance-direct (the plugin converts '
                 'it)' % (fields['disk_format'], fields['container_format'])]
        members = self._members(image)
        if members:
            steps.append('with its %d member(s)' % len(members))
        return steps + self._original_steps()

    def _members(self, image):
        if image.get('visibility') != 'shared':
            return []
        return self.glance.members(image['id'])

    def _original_steps(self):
        return [step for step, wanted in (
            ('hide the original', self.hide),
            ('deactivate the original', self.deactivate)) if wanted]

    def _make(self, image, fields, result):
        copy = self.glance.create(fields)
        self.making = copy['id']
        LOG.info('Image %s: created copy %s', image['id'], copy['id'])
        for member in self._members(image):
            self.glance.add_member(copy['id'], member['member_id'],
                                   member['status'])
        LOG.info('Image %s: staging its data into copy %s', image['id'],
                 copy['id'])
        self.glance.stage_from(copy['id'], image['id'])
        self.glance.import_staged(copy['id'])
        self.making = None
        LOG.info('Image %s: copy %s is importing', image['id'], copy['id'])
        return self._settle(image, copy['id'], result, result.detail)

    def _settle(self, image, copy_id, result, detail):
        """Wait for the copy's import; finish or report its failure."""
        deadline = time.monotonic() + self.timeout
        copy = self.glance.image(copy_id)
        while copy['status'] in _IMPORTING:
            if time.monotonic() > deadline:
                result.action, result.copy = FAILED, copy_id
                result.detail = ('the import did not finish within %d s; '
                                 'a rerun waits for it' % self.timeout)
                return result
            time.sleep(POLL_SECONDS)
            copy = self.glance.image(copy_id)
        result.copy = copy_id
        if copy['status'] != 'active':
            failed = [t for t in self.glance.import_tasks(copy_id) or ()
                      if t.get('status') == 'failure']
            reason = (failed[-1].get('message') if failed else
                      'the import failed (status %s)' % copy['status'])
            self._remove(copy)
            result.action = FAILED
            result.detail = 'the plugin refused it: %s' % reason
            return result
        if image.get('protected'):
            self.glance.update(copy_id, {'protected': True})
        result.action = REPAIRED
        result.detail = '; '.join(d for d in (detail,) if d)
        self._finish_original(image, result)
        return result

    def _finish_original(self, image, result):
        """Hide or deactivate the original, as asked, once (dry: say so)."""
        done = []
        if self.hide and not image.get('os_hidden'):
            if not self.dry_run:
                self.glance.update(image['id'], {'os_hidden': True})
            done.append('original hidden')
        if self.deactivate and image.get('status') == 'active':
            if not self.dry_run:
                self.glance.deactivate(image['id'])
            done.append('original deactivated')
        if self.dry_run:
            done = ['would have the %s' % d for d in done]
        result.detail = '; '.join([d for d in (result.detail,) if d] + done)

    def _remove(self, copy):
        if copy.get('protected'):
            self.glance.update(copy['id'], {'protected': False})
        self.glance.delete(copy['id'])

    def abandon(self):
        """Remove the copy being made (best effort: a rerun clears it)."""
        making, self.making = self.making, None
        if making:
            with contextlib.suppress(*api.ERRORS):
                copy = self.glance.find(making)
                if copy is not None and copy['status'] != 'importing':
                    self._remove(copy)
