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

"""Simulator stand-in for dom0's XenAPI module (python 2.7 and 3).

In dom0, ``xapi_local()`` talks to xapi over /var/lib/xcp/xapi; here it
talks XML-RPC to the simulator whose URL the simulator puts in the
plugin's environment. xenimage_helper makes no XAPI calls today; this is
what XenAPIPlugin.dispatch needs to build its session object.
"""

import os

try:
    import xmlrpc.client as xmlrpclib
except ImportError:  # Python 2.7
    import xmlrpclib


class Session(xmlrpclib.ServerProxy):
    def __init__(self, uri):
        xmlrpclib.ServerProxy.__init__(self, uri, allow_none=True)
        self._session = None


def xapi_local():
    return Session(os.environ.get('XENIMAGE_SIM_URL', 'http://127.0.0.1/'))
