"""
conftest.py - shared fixtures of the integration tests.

  broker            a broker on a free loopback port with the default test configuration
  make_broker       factory: make_broker(options=[...config lines...], anonymous=True, env={...}) -> started
                    Broker (env: extra environment; *_OPTIONS values are appended to the inherited ones)
  client            factory: client(broker, client_id="", version=5, clean=True) -> helpers.Client (closed
                    at teardown)
  raw               factory: raw(broker, version=5) -> helpers.Raw socket (closed at teardown)
  topic             a topic prefix unique to the test

At teardown every broker is stopped by PID with SIGTERM; the test FAILS if a broker exited non-zero, died
during the test, or printed a sanitizer report. The broker under test is $RAMPART_BIN (default
build-asan/rampart); RAMPART_TEST_BROKER=mosquitto runs the same tests against Debian's mosquitto to
validate them.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402


@pytest.fixture
def make_broker(tmp_path):
    started = []

    def factory(options=(), anonymous=True, listener_options=(), extra_listeners=(), env=None):
        workdir = str(tmp_path / ("broker%d" % len(started)))
        os.makedirs(workdir, exist_ok=True)
        b = helpers.Broker(workdir, options=options, anonymous=anonymous, listener_options=listener_options,
                           extra_listeners=extra_listeners, env=env)
        started.append(b)
        return b.start()

    yield factory
    problems = []
    for b in started:
        for p in b.stop():
            problems.append("%s\n--- broker log (%s) ---\n%s" % (p, b.config_path, b.log()[-8000:]))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def broker(make_broker):
    return make_broker()


@pytest.fixture
def client(make_broker):
    made = []

    def factory(broker, client_id="", version=helpers.V5, clean=True):
        c = helpers.Client(broker, client_id=client_id, version=version, clean=clean)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


@pytest.fixture
def raw(make_broker):
    made = []

    def factory(broker, version=helpers.V5):
        r = helpers.Raw(broker, version)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


@pytest.fixture
def topic(request):
    return helpers.topic_of(request.node.name)
