#!/usr/bin/env python3
"""How long slow and silent clients keep a connection, measured.

Usage: scripts/client-timeouts.py BINARY BOOTSTRAP
Starts BINARY (the service) with --client-timeout 1s and --max-connections 20
against BOOTSTRAP, then times: a silent connection, half a request head, an
idle keep-alive connection and a head dribbled a byte every 100 ms until the
service closes each; and how long a new client waits for its answer while
20 silent sockets hold every connection slot.
"""
import socket, subprocess, time, re, sys
svc = subprocess.Popen([sys.argv[1],"--bootstrap-servers",sys.argv[2],"--listen","127.0.0.1:0","--client-timeout","1s","--max-connections","20"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = svc.stdout.readline()
port = int(re.search(r":(\d+)$", line.strip()).group(1))
def until_closed(s):
    t=time.monotonic()
    s.settimeout(30)
    while True:
        try:
            d=s.recv(4096)
        except Exception:
            break
        if not d: break
    return time.monotonic()-t
res={}
s=socket.create_connection(("127.0.0.1",port)); t0=time.monotonic(); until_closed(s); res['silent']=time.monotonic()-t0
s=socket.create_connection(("127.0.0.1",port)); s.sendall(b"GET /healthy HTTP/1.1\r\nHost: localhost\r\n"); t0=time.monotonic(); until_closed(s); res['half head']=time.monotonic()-t0
s=socket.create_connection(("127.0.0.1",port)); s.sendall(b"GET /healthy HTTP/1.1\r\nHost: localhost\r\n\r\n"); s.recv(4096); t0=time.monotonic(); until_closed(s); res['idle keep-alive']=time.monotonic()-t0
# dribbler
s=socket.create_connection(("127.0.0.1",port)); t0=time.monotonic()
try:
    for b in b"GET /healthy HTTP/1.1\r\nX-Slow: "+b"a"*1000:
        s.sendall(bytes([b])); time.sleep(0.1)
except Exception: pass
res['dribble (1 byte/100ms)']=time.monotonic()-t0
idle=[socket.create_connection(("127.0.0.1",port)) for _ in range(20)]
time.sleep(0.2)
t0=time.monotonic()
c=socket.create_connection(("127.0.0.1",port)); c.sendall(b"GET /healthy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); c.settimeout(30); d=c.recv(100)
res['new client with 20 of 20 slots idle']=time.monotonic()-t0
svc.kill()
for k,v in res.items(): print(f"{k}: closed/served after {v:.2f} s")
