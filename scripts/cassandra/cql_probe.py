#!/usr/bin/env python3
"""Readiness probe for a CQL server, standard library only.

Speaks CQL native protocol v4 over one TCP connection: OPTIONS (expects
SUPPORTED), STARTUP (expects READY), then QUERY
`SELECT release_version FROM system.local` (expects a RESULT with one row).
Prints the release version and exits 0 when all three succeed; otherwise
prints why on stderr and exits 1.

usage: cql_probe.py HOST PORT [TIMEOUT_SECONDS]
"""
import socket
import struct
import sys

VERSION = 0x04
OP_ERROR, OP_STARTUP, OP_READY, OP_OPTIONS, OP_SUPPORTED = 0x00, 0x01, 0x02, 0x05, 0x06
OP_QUERY, OP_RESULT = 0x07, 0x08
CONSISTENCY_ONE = 0x0001
RESULT_ROWS = 0x0002


class ProbeError(Exception):
    pass


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("connection closed by server")
        buf += chunk
    return buf


def request(sock, stream, opcode, body=b""):
    sock.sendall(struct.pack(">BBhBi", VERSION, 0, stream, opcode, len(body)) + body)
    version, _flags, rstream, ropcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    if version != (0x80 | VERSION):
        raise ProbeError(f"unexpected response version 0x{version:02x}")
    if rstream != stream:
        raise ProbeError(f"response for stream {rstream}, expected {stream}")
    rbody = recv_exact(sock, length)
    if ropcode == OP_ERROR:
        code = struct.unpack(">i", rbody[:4])[0]
        (mlen,) = struct.unpack(">H", rbody[4:6])
        raise ProbeError(f"server error 0x{code:04x}: {rbody[6:6 + mlen].decode(errors='replace')}")
    return ropcode, rbody


def first_text_cell(body):
    """The first column of the first row of a Rows result, as text."""
    pos = 0
    (kind,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if kind != RESULT_ROWS:
        raise ProbeError(f"result kind {kind}, expected Rows")
    flags, ncols = struct.unpack_from(">ii", body, pos)
    pos += 8
    if flags & 0x0002:  # has_more_pages: skip the paging state
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4 + max(n, 0)
    if flags & 0x0004:  # no_metadata
        raise ProbeError("result without metadata")
    if flags & 0x0001:  # global_tables_spec: keyspace and table once
        for _ in range(2):
            (n,) = struct.unpack_from(">H", body, pos)
            pos += 2 + n
    for _ in range(ncols):
        if not flags & 0x0001:
            for _ in range(2):
                (n,) = struct.unpack_from(">H", body, pos)
                pos += 2 + n
        (n,) = struct.unpack_from(">H", body, pos)  # column name
        pos += 2 + n
        (type_id,) = struct.unpack_from(">H", body, pos)
        pos += 2
        if type_id not in (0x000A, 0x000D):  # ascii, varchar: no parameters
            raise ProbeError(f"unexpected column type 0x{type_id:04x}")
    (nrows,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if nrows < 1:
        raise ProbeError("system.local returned no row")
    (n,) = struct.unpack_from(">i", body, pos)
    pos += 4
    return body[pos:pos + n].decode() if n >= 0 else ""


def probe(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        op, _ = request(sock, 1, OP_OPTIONS)
        if op != OP_SUPPORTED:
            raise ProbeError(f"OPTIONS answered with opcode 0x{op:02x}")
        startup = struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")
        op, _ = request(sock, 2, OP_STARTUP, startup)
        if op != OP_READY:
            raise ProbeError(f"STARTUP answered with opcode 0x{op:02x} (authentication required?)")
        query = long_string("SELECT release_version FROM system.local") + struct.pack(">HB", CONSISTENCY_ONE, 0)
        op, body = request(sock, 3, OP_QUERY, query)
        if op != OP_RESULT:
            raise ProbeError(f"QUERY answered with opcode 0x{op:02x}")
        return first_text_cell(body)


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) == 4 else 5.0
    try:
        print(probe(host, port, timeout))
    except (OSError, ProbeError, struct.error) as e:
        print(f"cql_probe: {host}:{port}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
