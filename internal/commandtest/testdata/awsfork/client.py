# The `aws` the test scripts call: hands its arguments, environment, working directory and
# stdin, stdout and stderr to server.py (socket in $COMMANDTEST_AWS_SOCKET) and exits with the
# awscli command's exit status. Run with python3 -S: it needs only the standard library.
import json
import os
import socket
import struct
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(os.environ['COMMANDTEST_AWS_SOCKET'])
req = {'args': sys.argv[1:], 'env': dict(os.environ), 'cwd': os.getcwd()}
socket.send_fds(s, [json.dumps(req).encode()], [0, 1, 2])
reply = s.recv(4)
sys.exit(struct.unpack('i', reply)[0] if len(reply) == 4 else 255)
