# A fork server for Debian's awscli, so that each `aws` command of the tests does not pay for
# starting Python and importing awscli (about 0.4 s of CPU of the 0.65 s a command takes).
# It imports awscli.clidriver as /usr/bin/aws does, then for every request (client.py sends
# its arguments, environment, working directory and its stdin, stdout and stderr) forks a
# child that takes on those and runs awscli.clidriver.main(): the command runs the installed
# awscli's own code, with nothing shared between commands but what the import left behind.
# The exit status goes back to the client. Usage: python3 server.py SOCKET
import json
import os
import selectors
import socket
import struct
import sys

if os.environ.get('LC_CTYPE', '') == 'UTF-8':  # as /usr/bin/aws does
    os.environ['LC_CTYPE'] = 'en_US.UTF-8'
_before = dict(os.environ)
import awscli.clidriver  # noqa: E402  (the import this server exists to do once)

# What importing awscli put into the environment (awscli/__init__.py sets AWS_DATA_PATH from
# it): each command's environment gets the same.
IMPORT_ENV = {k: v for k, v in os.environ.items() if _before.get(k) != v}


def child(req, fds):
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    env = req['env']
    if env.get('AWS_DATA_PATH') or env.get('LC_CTYPE', '') == 'UTF-8':
        # The import ran with this server's environment; these would have changed it.
        os.write(2, b'awsfork: AWS_DATA_PATH and LC_CTYPE=UTF-8 are not supported\n')
        os._exit(255)
    os.environ.clear()
    os.environ.update(env)
    os.environ.update(IMPORT_ENV)
    os.chdir(req['cwd'])
    sys.argv = ['aws'] + req['args']
    code = 255
    try:
        code = awscli.clidriver.main()
    except SystemExit as e:
        code = e.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        code = 1
    os._exit(code)


def main(path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = srv.accept()
                msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
                if len(fds) != 3 or not msg:
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    srv.close()
                    conn.close()
                    child(json.loads(msg), fds)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                sel.register(pidfd, selectors.EVENT_READ, (pid, conn))
            else:
                pid, conn = key.data
                sel.unregister(key.fileobj)
                os.close(key.fileobj)
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    code = 128 - code  # killed by a signal, as a shell reports it
                try:
                    conn.send(struct.pack('i', code))
                except OSError:
                    pass  # the client is gone
                conn.close()


if __name__ == '__main__':
    main(sys.argv[1])
