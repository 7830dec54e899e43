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

"""Sphinx configuration of the xenimage_import documentation."""

project = 'xenimage_import'
copyright = 'xenimage_import developers'
extensions = [
    'oslo_config.sphinxext',
]
source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'sphinx'
html_theme = 'alabaster'

# ``sphinx-build -b man``: one page per command.
man_pages = [
    ('cli/xenimage-convert', 'xenimage-convert',
     'convert a disk image into a XenServer tap VHD image',
     ['xenimage_import developers'], 1),
    ('cli/xenimage-check', 'xenimage-check',
     'check a XenServer image tarball or VHD',
     ['xenimage_import developers'], 1),
    ('cli/xenimage-dom0-plugin', 'xenimage-dom0-plugin',
     "install xenimage_import's XAPI plugin in dom0",
     ['xenimage_import developers'], 1),
]
