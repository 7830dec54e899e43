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

"""Simulator stand-in for dom0's XenAPIPlugin module (python 2.7 and 3).

Same contract as xen-api's python3/examples/XenAPIPlugin.py: argv[1] is
an XML-RPC methodCall ``fn(session_ref, {str: str})``; the function's
string result, a ``Failure`` or any other exception is printed to stdout
as a methodResponse struct with ``Status``.
"""

import sys

try:
    import xmlrpc.client as xmlrpclib
except ImportError:  # Python 2.7
    import xmlrpclib

import XenAPI


class Failure(Exception):
    """Provides a mechanism for plugins to return error codes."""

    def __init__(self, code, params):
        Exception.__init__(self)
        self.params = [code] + params

    def __str__(self):
        return str(self.params)


def success_message(result):
    rpcparams = {'Status': 'Success', 'Value': result}
    return xmlrpclib.dumps((rpcparams, ), '', True)


def failure_message(description):
    rpcparams = {'Status': 'Failure', 'ErrorDescription': description}
    return xmlrpclib.dumps((rpcparams, ), '', True)


def dispatch(fn_table):
    if len(sys.argv) != 2:
        raise Exception('Incorrect number of commandline arguments')
    params, methodname = xmlrpclib.loads(sys.argv[1])
    session_id = params[0]
    x = XenAPI.xapi_local()
    x._session = session_id
    try:
        if methodname not in fn_table:
            print(failure_message(['UNKNOWN_XENAPI_PLUGIN_FUNCTION',
                                   methodname]))
            return
        result = fn_table[methodname](x, params[1])
        print(success_message(result))
    except SystemExit:
        raise
    except Failure as e:
        print(failure_message(e.params))
    except Exception as e:
        print(failure_message(['XENAPI_PLUGIN_FAILURE', methodname,
                               e.__class__.__name__, str(e)]))
