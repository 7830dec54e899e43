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

"""The lab: real services on loopback and reference images.

What the tests and the tools both stand on: a real glance-api, Keystone
and PostgreSQL on 127.0.0.1, the XAPI simulator that stands in for a
XenServer pool, and the builders of reference disk images. It depends on
the package, never on the tests, so ``tools/`` can use it without
reaching into ``tests/``.
"""
