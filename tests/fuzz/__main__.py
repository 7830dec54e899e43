#!/usr/bin/env python3
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

"""Coverage-guided fuzzing (atheris) of the parsers that read uploads.

Targets (tests/fuzz/targets.py says what each may raise):

* ``vhd``: the VHD validator behind xenimage-check;
* ``tarball``: the tarball checker (gzip, tar, then the validator);
* ``inspect``: the inspection that runs before qemu-img (format_inspector
  detection and safety checks, our VHD footer checks).

    python -m tests.fuzz TARGET [--seconds N] [libFuzzer options]

The corpus lives in tests/fuzz/corpus/TARGET and grows with the inputs
libFuzzer finds interesting; a crash is written to tests/fuzz/crashes/
and must become a regression input in the corpus once fixed (the unit
test tests/unit/test_fuzz_corpus.py replays every corpus file).
"""

import argparse
import os
import shutil
import sys
import tempfile

import atheris

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

with atheris.instrument_imports():
    from tests.fuzz import targets


def main():
    p = argparse.ArgumentParser()
    p.add_argument('target', choices=sorted(targets.TARGETS))
    p.add_argument('--seconds', type=int, default=60)
    args, rest = p.parse_known_args()
    corpus = os.path.join(REPO, 'tests', 'fuzz', 'corpus', args.target)
    crashes = os.path.join(REPO, 'tests', 'fuzz', 'crashes')
    os.makedirs(crashes, exist_ok=True)
    if not os.path.isdir(corpus) or not os.listdir(corpus):
        os.makedirs(corpus, exist_ok=True)
        scratch = tempfile.mkdtemp()
        for name, data in targets.seeds(scratch)[args.target].items():
            with open(os.path.join(corpus, 'seed-' + name), 'wb') as f:
                f.write(data)
        shutil.rmtree(scratch)
    run_one = targets.TARGETS[args.target]
    argv = [sys.argv[0], corpus, '-max_total_time=%d' % args.seconds,
            '-artifact_prefix=%s/%s-' % (crashes, args.target),
            '-max_len=65536', '-rss_limit_mb=1024', '-print_final_stats=1'
            ] + rest
    atheris.Setup(argv, run_one)
    atheris.Fuzz()


if __name__ == '__main__':
    main()
