"""The moto AWS emulator, with every request handled one at a time.

Real DynamoDB makes each conditional write and transaction atomic; moto's
threaded server does not (two concurrent conditional writes on one item can
both succeed). Serializing the requests restores the guarantee the tests
rely on, e.g. that concurrent batch creations never claim one application
twice. Connections still arrive concurrently.

Usage: python moto_serial.py HOST PORT
"""
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class Serial:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialize the body inside the lock: the handler's work is done
            # when it returns.
            return list(self.app(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, Serial(app), threaded=True, request_handler=MotoRequestHandler, use_reloader=False)


if __name__ == "__main__":
    main()
