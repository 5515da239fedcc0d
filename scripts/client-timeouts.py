#!/usr/bin/env python3
"""How long slow and silent clients keep a connection, measured.

Usage: scripts/client-timeouts.py BINARY BOOTSTRAP [CLIENT_TIMEOUT_S]

Starts BINARY (the service) with --client-timeout CLIENT_TIMEOUT_S (1 by
default) and --max-connections 20 against BOOTSTRAP, then times, each on a
connection of its own:

- a client that connects and sends nothing;
- one that sends half a request head and stops;
- an idle keep-alive connection, from the end of its first response;
- one that dribbles a head a byte every 100 ms (each byte comes well within
  the timeout, the whole head never does);
- a new client while 20 silent sockets hold every connection slot.

Prints the time until the service closed each (or answered the last), in
seconds, as a Markdown table.
"""
import re
import socket
import subprocess
import sys
import time

GET = b"GET /healthy HTTP/1.1\r\nHost: localhost\r\n"
MAX_CONNECTIONS = 20
GIVE_UP_S = 60


def until_closed(sock):
    """Reads until the service closes the socket; seconds it took."""
    started = time.monotonic()
    sock.settimeout(GIVE_UP_S)
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass
    return time.monotonic() - started


def main():
    binary, bootstrap = sys.argv[1], sys.argv[2]
    timeout = sys.argv[3] if len(sys.argv) > 3 else "1"
    service = subprocess.Popen(
        [binary, "--bootstrap-servers", bootstrap, "--listen", "127.0.0.1:0",
         "--client-timeout", f"{timeout}s",
         "--max-connections", str(MAX_CONNECTIONS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)$", service.stdout.readline().strip()).group(1))
        address = ("127.0.0.1", port)
        rows = []

        rows.append(("connects and sends nothing",
                     until_closed(socket.create_connection(address))))

        sock = socket.create_connection(address)
        sock.sendall(GET)
        rows.append(("sends half a request head", until_closed(sock)))

        sock = socket.create_connection(address)
        sock.sendall(GET + b"\r\n")
        sock.recv(4096)
        rows.append(("idle keep-alive, after its response", until_closed(sock)))

        sock = socket.create_connection(address)
        started = time.monotonic()
        try:
            for byte in GET + b"X-Slow: " + b"a" * 1000:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        rows.append(("dribbles a head, a byte every 100 ms",
                     time.monotonic() - started))

        idle = [socket.create_connection(address) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.2)
        started = time.monotonic()
        sock = socket.create_connection(address)
        sock.sendall(GET + b"Connection: close\r\n\r\n")
        sock.settimeout(GIVE_UP_S)
        answer = sock.recv(100)
        served = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 204"), answer
        rows.append((f"new client, {MAX_CONNECTIONS} of {MAX_CONNECTIONS} slots held "
                     "by silent sockets: answered after", served))
        for s in idle:
            s.close()
    finally:
        service.kill()

    print(f"| client (--client-timeout {timeout}s) | closed after, s |")
    print("|---|---|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
