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

"""A XAPI simulator: the XenServer side of the ``xenserver`` helper's tests.

No XenServer host can run here, so tests talk to this simulator instead.
It is a real XML-RPC server on 127.0.0.1 speaking XAPI's wire protocol and
its ``/import_raw_vdi`` HTTP handler, and it runs the real dom0 plugin file
with XAPI's argv/stdout convention. See server.py for what is simulated
and how faithfully.
"""
