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

"""How long each test class runs, so a fresh checkout splits them evenly.

stestr shares tests between its workers by the durations it recorded in
earlier runs; a clean clone (CI) has none and deals them out in turn,
which left one worker five minutes behind the other. ``.stestr.conf``
keeps each class on one worker (its Glance starts once), and
``tests/durations.json`` holds each class's seconds:

* ``python -m tools.test_durations save``: after a full run, write the
  classes' durations from stestr's last run, set-up included;
* ``python -m tools.test_durations seed | stestr load``: what
  tools/run-tests does in a repository it has just made (``stestr
  init``), a stream of one passed test per test id with its class's
  share of the time.

A class missing from the file is dealt out in turn, as before.
"""

import argparse
import collections
import datetime
import io
import json
import os
import subprocess
import sys

import subunit
import testtools

FILE = os.path.join(os.path.dirname(__file__), '..', 'tests',
                    'durations.json')


def test_class(test_id):
    return test_id.rsplit('.', 1)[0]


def _last_run():
    """``{class: seconds}`` of the last run, as each worker spent them.

    A class's seconds run from the end of the test its worker ran before
    it to the end of its own last test, so its setUpClass (a Glance, a
    Keystone started) counts as well as its tests.
    """
    stream = subprocess.run(['stestr', 'last', '--subunit'],
                            stdout=subprocess.PIPE, check=True).stdout
    by_worker = collections.defaultdict(list)

    def on_test(test):
        start, stop = test['timestamps']
        if start and stop:
            worker = min((t for t in test['tags']
                          if t.startswith('worker')), default='worker-0')
            by_worker[worker].append((start, stop, test['id']))

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(io.BytesIO(stream)).run(result)
    result.stopTestRun()
    per_class = collections.Counter()
    for tests in by_worker.values():
        tests.sort()
        previous = tests[0][0]
        for start, stop, test_id in tests:
            per_class[test_class(test_id)] += (
                stop - previous).total_seconds()
            previous = stop
    return per_class


def save():
    # Read the run before opening the file: a failure leaves it as it was.
    durations = {k: round(v, 1) for k, v in sorted(_last_run().items())}
    with open(FILE, 'w') as f:
        json.dump(durations, f, indent=1)
        f.write('\n')


def seed(out):
    with open(FILE) as f:
        per_class = json.load(f)
    listed = subprocess.run(['stestr', 'list'], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if listed.returncode:
        # The run itself will show what discovery trips on.
        sys.stderr.write('test_durations: stestr list failed: nothing '
                         'seeded\n')
        return
    ids = listed.stdout.split()
    members = collections.defaultdict(list)
    for test_id in ids:
        if test_class(test_id) in per_class:
            members[test_class(test_id)].append(test_id)
    stream = subunit.StreamResultToBytes(out)
    start = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    for name, test_ids in members.items():
        share = datetime.timedelta(seconds=per_class[name] / len(test_ids))
        for test_id in test_ids:
            stream.status(test_id=test_id, test_status='inprogress',
                          timestamp=start)
            stream.status(test_id=test_id, test_status='success',
                          timestamp=start + share)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=('save', 'seed'))
    args = parser.parse_args()
    if args.action == 'save':
        save()
    else:
        seed(sys.stdout.buffer)


if __name__ == '__main__':
    main()
