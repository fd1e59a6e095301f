"""When each probe started: the kernel's time stamps of its SYNs on lo."""

import socket
import struct
import threading


class SynCapture:
    """Kernel time stamps (CLOCK_REALTIME, SO_TIMESTAMPNS) of the TCP SYNs
    sent on lo to PORT: when each probe started, to the microsecond, however
    late this process gets to read them."""

    PACKET_OUTGOING = 4
    SO_TIMESTAMPNS = 35

    def __init__(self, port):
        self.port = port
        self.syns = []
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind(("lo", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, self.SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.done = False
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def loop(self):
        while not self.done:
            try:
                data, anc, _, addr = self.sock.recvmsg(96, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[2] != self.PACKET_OUTGOING or data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            ihl = (ip[0] & 15) * 4
            if len(ip) < ihl + 14 or ip[9] != 6:
                continue
            dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
            flags = ip[ihl + 13]
            if dport != self.port or flags & 0x12 != 0x02:   # SYN without ACK
                continue
            for _, kind, d in anc:
                if kind == self.SO_TIMESTAMPNS and len(d) >= 16:
                    sec, nsec = struct.unpack("qq", d[:16])
                    self.syns.append(sec + nsec / 1e9)

    def since(self, port, t):
        return [x for x in list(self.syns) if x >= t] if port == self.port else []

    def close(self):
        self.done = True
        self.th.join(2)
        self.sock.close()
