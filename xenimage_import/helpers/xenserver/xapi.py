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

"""A XAPI session with timeouts, pool-master following and plain errors.

Wraps the PyPI ``XenAPI`` session (XML-RPC). XAPI reports failures as an
``ErrorDescription`` list of strings; :class:`XapiError` keeps it and says
in words what an operator can do about the common ones. Long operations
are XAPI tasks, whose status is the only truth about their outcome
(``import_raw_vdi`` answers 200 before it has read a byte).
"""

import functools
import http.client
import logging
import secrets
import socket
import time
import urllib.parse
import xmlrpc.client

import XenAPI

from xenimage_import import cleanup
from xenimage_import import exception
from xenimage_import.helpers.xenserver import trust as trust_mod

LOG = logging.getLogger(__name__)

ORIGINATOR = 'xenimage_import'
API_VERSION = '1.0'
TASK_PENDING = 'pending'
TASK_SUCCESS = 'success'
TASK_FAILURE = 'failure'
TASK_CANCELLING = 'cancelling'
_TASK_POLL = 0.2
_CANCEL_WAIT = 10.0
# Timeout of each call made over a fresh connection (logout, the undo
# actions a signal runs): short, as they run against a deadline.
LAST_WORD_TIMEOUT = 5
_IN_USE_PATIENCE = 6

# What an operator can do about the errors this driver meets most.
_ADVICE = {
    'SESSION_AUTHENTICATION_FAILED':
        'the host refused the credentials of user %(0)s; check '
        '[xenimage_xenserver] username/password or host_credentials',
    'SR_FULL':
        'the SR has no room for the image (%(0)s bytes requested, '
        '%(1)s available); free space or set another sr_uuid',
    'VDI_IO_ERROR':
        'XenServer could not write the image into the VDI (%(0)s); the '
        'VHD was refused or the SR failed, see SMlog on the host',
    'XENAPI_MISSING_PLUGIN':
        'the dom0 plugin %(0)s is not installed on the host; install it '
        'with: xenimage-dom0-plugin script | ssh root@HOST sh',
    'XENAPI_PLUGIN_FAILURE':
        'the dom0 plugin failed: %(all)s',
    'UUID_INVALID':
        'no %(0)s with uuid %(1)s on this pool; check sr_uuid',
    'HANDLE_INVALID':
        'the %(0)s disappeared while in use (%(1)s)',
    'VDI_IN_USE':
        'the VDI is in use (%(1)s)',
}


class XapiError(exception.ConversionFailed):
    """A XAPI failure: ``code`` and ``params`` as XAPI sent them."""

    def __init__(self, details, host=None):
        details = [str(d) for d in (details or ['UNKNOWN_ERROR'])]
        self.code = details[0]
        self.params = details[1:]
        values = {str(i): p for i, p in enumerate(self.params)}
        values['all'] = ' '.join(p.strip() for p in self.params if p)
        advice = _ADVICE.get(self.code)
        if advice:
            try:
                text = advice % values
            except KeyError:
                text = '%s %s' % (self.code, values['all'])
        elif self.code.startswith('XENIMAGE_'):
            # Refusals of our own dom0 plugin carry a readable message.
            text = 'the dom0 plugin refused the export: %s' % values['all']
        else:
            text = '%s %s' % (self.code, values['all'])
        where = ' (host %s)' % host if host else ''
        super().__init__('XenServer%s: %s' % (where, text.strip()))


class _TrustedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked by :class:`trust.Trust`."""

    def __init__(self, host, timeout, trust):
        super().__init__(host, timeout=timeout)
        self._trust = trust

    def connect(self):
        self.sock = self._trust.connect(self.host, self.port, self.timeout)


class _Transport(xmlrpc.client.Transport):
    """XML-RPC over HTTP(S) with a timeout and per-host trust."""

    def __init__(self, timeout, trust, https):
        super().__init__()
        self._timeout = timeout
        self._trust = trust
        self._https = https

    def make_connection(self, host):
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        chost, self._extra_headers, _ = self.get_host_info(host)
        if self._https:
            conn = _TrustedHTTPSConnection(chost, self._timeout, self._trust)
        else:
            conn = http.client.HTTPConnection(chost, timeout=self._timeout)
        self._connection = host, conn
        return conn


def _with_host(url, host):
    parts = urllib.parse.urlsplit(url)
    netloc = '[%s]' % host if ':' in host else host
    if parts.port:
        netloc += ':%d' % parts.port
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class XapiSession(object):
    """A logged-in XAPI session; use as a context manager.

    :param url: XAPI URL of a pool member; ``HOST_IS_SLAVE`` is followed
        to the master, keeping the scheme and port.
    :param name: how the host is named in messages and logs.
    """

    def __init__(self, url, username, password, name=None, timeout=60,
                 trust=None):
        self.url = url
        self.name = name or urllib.parse.urlsplit(url).hostname
        self.timeout = timeout
        self.trust = trust or trust_mod.Trust()
        self._username = username
        self._password = password
        self._session = None

    def _connect(self, url):
        transport = _Transport(self.timeout, self.trust,
                               url.startswith('https:'))
        session = XenAPI.Session(url, transport=transport)
        session.login_with_password(self._username, self._password or '',
                                    API_VERSION, ORIGINATOR)
        return session

    def login(self):
        url = self.url
        for _ in range(2):
            try:
                self._session = self._connect(url)
                self.url = url
                # session.logout takes the session alone, no reference.
                cleanup.add_action(self._action_key(self.handle),
                                   self._logout_now)
                return self
            except XenAPI.Failure as e:
                details = e.details
                if details and details[0] == 'HOST_IS_SLAVE':
                    url = _with_host(url, details[1])
                    LOG.info('%s is a pool member; using the pool master '
                             'at %s', self.name, url)
                    continue
                raise XapiError(details, self.name)
            except (OSError, http.client.HTTPException,
                    xmlrpc.client.Error) as e:
                raise exception.ConversionFailed(
                    'XenServer (host %s): cannot reach XAPI at %s: %s'
                    % (self.name, url, e))
        raise XapiError(['HOST_IS_SLAVE', 'the pool master is a member '
                         'too'], self.name)

    def logout(self):
        """End the session, over a connection of its own.

        The connection the calls used may be in the middle of a request
        that Ctrl-C interrupted; the logout must not depend on it.
        """
        if self._session is None:
            return
        self.done(self.handle)
        self._logout_now()
        self._session = None

    def _logout_now(self):
        try:
            self.fresh_call('session.logout')
        except Exception as e:
            LOG.warning('XAPI logout from %s failed: %s', self.name, e)

    def fresh_call(self, method, *args):
        """``method(session, *args)`` over a new connection.

        With a short timeout, for the last word (a logout, what a signal
        undoes) when the connection of the calls cannot be trusted.
        :raises XapiError: XAPI refused; other errors as raised.
        """
        proxy = xmlrpc.client.ServerProxy(
            self.url, allow_none=True, transport=_Transport(
                min(self.timeout, LAST_WORD_TIMEOUT), self.trust,
                self.url.startswith('https:')))
        target = proxy
        for part in method.split('.'):
            target = getattr(target, part)
        answer = target(self.handle, *args)
        if answer.get('Status') != 'Success':
            raise XapiError(answer.get('ErrorDescription') or [], self.name)
        return answer.get('Value')

    def _action_key(self, ref):
        return ('xapi', self.url, ref)

    def create(self, cls, label, description, arguments, *undo):
        """``<cls>.create``, undone on a signal even before XAPI answered.

        A signal can end the process after XAPI made the object and before
        its reference came back: the undo finds it by its label and its
        description, made unique here.

        :param arguments: ``arguments(description)`` gives the create
            call's arguments, carrying ``label`` and that description.
        :param undo: the methods that undo it (``'destroy'``).
        """
        description = '%s [%s]' % (description, secrets.token_hex(6))

        methods = ['%s.%s' % (cls, m) for m in undo]

        def undo_unknown():
            for ref in self.fresh_call(cls + '.get_by_name_label', label):
                if self.fresh_call(cls + '.get_name_description',
                                   ref) == description:
                    self._undo(ref, methods)

        key = ('xapi-create', self.url, cls, description)
        cleanup.add_action(key, undo_unknown)
        try:
            ref = self.call(cls + '.create', *arguments(description))
        finally:
            cleanup.discard_action(key)
        self.undo_on_signal(ref, *methods)
        return ref

    def create_task(self, label, description):
        """``task.create``, cancelled and destroyed on a signal."""
        return self.create('task', label, description,
                           lambda d: (label, d), 'cancel', 'destroy')

    def undo_on_signal(self, ref, *methods):
        """If a signal ends the process, call ``methods`` on ``ref``.

        ``undo_on_signal(vdi, 'VDI.destroy')``, ``undo_on_signal(task,
        'task.cancel', 'task.destroy')``: run over fresh connections,
        newest resource first, each method tried whatever the one before
        it answered; a VDI still in use (its import ending) is tried again
        for a few seconds. :meth:`done` forgets it once undone here.
        """
        cleanup.add_action(self._action_key(ref),
                           functools.partial(self._undo, ref, methods))

    def _undo(self, ref, methods):
        """Call each of ``methods`` on ``ref`` over fresh connections."""
        for method in methods:
            end = time.monotonic() + _IN_USE_PATIENCE
            while True:
                try:
                    self.fresh_call(method, ref)
                    break
                except XapiError as e:
                    if e.code != 'VDI_IN_USE' or time.monotonic() > end:
                        LOG.warning('%s of %s on %s failed: %s', method, ref,
                                    self.name, e)
                        break
                    time.sleep(_TASK_POLL)
                except Exception as e:
                    LOG.warning('%s of %s on %s failed: %s', method, ref,
                                self.name, e)
                    break

    def done(self, ref):
        """``ref`` was undone (or kept) in order: no signal must."""
        cleanup.discard_action(self._action_key(ref))

    def __enter__(self):
        return self.login()

    def __exit__(self, *exc):
        self.logout()

    @property
    def handle(self):
        return self._session.handle

    def call(self, method, *args):
        """``call('VDI.get_uuid', ref)``; failures raise XapiError."""
        target = self._session.xenapi
        for part in method.split('.'):
            target = getattr(target, part)
        try:
            return target(*args)
        except XenAPI.Failure as e:
            raise XapiError(e.details, self.name)
        except (OSError, http.client.HTTPException,
                xmlrpc.client.Error) as e:
            raise exception.ConversionFailed(
                'XenServer (host %s): %s failed: %s' % (self.name, method, e))

    def wait_task(self, task, timeout, what, stop=None, abort=None,
                  cancel_wait=None):
        """Wait for ``task``; return its result or raise XapiError.

        Past ``timeout`` (or once ``stop()`` gives a reason) the task is
        cancelled and ConversionFailed raised; an interruption (an error
        here, Ctrl-C, a worker shutting down) cancels it too, so no work
        goes on on the host for nobody.

        :param abort: called before the cancel, for tasks XAPI cannot
            cancel: a plugin call stays pending and runs on after
            ``task.cancel``, so what stops it must be done here (closing
            what it talks to); ``cancel_wait=0`` then does not wait for a
            cancel that will not come.
        """
        end = time.monotonic() + timeout
        finished = False
        try:
            while True:
                status = self.call('task.get_status', task)
                finished = status not in (TASK_PENDING, TASK_CANCELLING)
                if status == TASK_SUCCESS:
                    return self.call('task.get_result', task)
                if status == TASK_FAILURE:
                    raise XapiError(self.call('task.get_error_info', task),
                                    self.name)
                if finished:   # XAPI's one other end state: cancelled
                    raise exception.ConversionFailed(
                        'XenServer (host %s): %s was cancelled'
                        % (self.name, what))
                reason = stop() if stop else None
                if reason or time.monotonic() > end:
                    raise exception.ConversionFailed(
                        'XenServer (host %s): %s %s' % (
                            self.name, what, reason or 'did not finish '
                            'within %d s' % timeout))
                time.sleep(_TASK_POLL)
        finally:
            if not finished:
                if abort is not None:
                    abort()
                self.cancel_task(task, cancel_wait)

    def cancel_task(self, task, wait=None):
        """Ask XAPI to cancel ``task``; wait for it (``wait`` s at most)."""
        try:
            self.call('task.cancel', task)
        except exception.XenImageError as e:
            LOG.warning('cancelling a task on %s failed: %s', self.name, e)
            return
        end = time.monotonic() + (_CANCEL_WAIT if wait is None else wait)
        while time.monotonic() < end:
            try:
                if self.call('task.get_status', task) not in (
                        TASK_PENDING, TASK_CANCELLING):
                    return
            except exception.XenImageError:
                return
            time.sleep(_TASK_POLL)

    def destroy_task(self, task):
        try:
            self.call('task.destroy', task)
        except exception.XenImageError as e:
            LOG.warning('task.destroy on %s failed: %s', self.name, e)
        finally:
            self.done(task)


def task_value(result):
    """A task result (``<value>...</value>``) as the string it encodes."""
    if not result or not result.lstrip().startswith('<value'):
        return result
    doc = ('<?xml version="1.0"?><methodResponse><params><param>%s'
           '</param></params></methodResponse>' % result)
    return xmlrpc.client.loads(doc)[0][0]


def connection_error(e):
    """Short text of a socket/TLS error for messages."""
    if isinstance(e, socket.timeout):
        return 'timed out'
    return getattr(e, 'strerror', None) or str(e)
