"""Transports by URL: loop://, socket://, and a pty path, all behind one interface."""
import socket
import threading

from runtime.link.packets import TcPacket, parse_tc
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport

PING = TcPacket(17, 1, apid=0x0A0, seq_count=1, source_id=0x42)


def test_loop_url_reads_back_packets():
    link = PacketLink(open_transport("loop://"), parse_tc)
    link.send(PING.pack())
    assert link.receive(1.0) == PING
    assert link.receive(0.05) is None
    link.close()


def test_socket_url():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo():
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(64))
            conn.recv(64)  # hold the connection until the client closes it
    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    link = PacketLink(open_transport(f"socket://127.0.0.1:{port}"), parse_tc)
    link.send(PING.pack())
    assert link.receive(2.0) == PING
    link.close()
    thread.join()
    server.close()


def test_pty_path_and_master():
    master, path = open_pty_pair()
    port = open_transport(path)
    runtime_side = FdStream(master)
    port.write(b"\x00abc\x00")
    got = b""
    while len(got) < 5:
        got += runtime_side.read(16, 1.0)
    assert got == b"\x00abc\x00"
    port.close()
    runtime_side.close()
