"""The payload link (docs/icd.md): COBS frames of CCSDS space packets with PUS-C
headers over a UART, between the runtime and its payload controller.

Layers, bottom up, each a module with its own tests (tests/link/):
- transport: byte streams opened by URL (UART, pty, loop://, socket://);
- framing: COBS frames; a decoder that resynchronises and counts what it drops;
- packets: strict CCSDS/PUS-C TC and TM packets with CRC-16 packet error control;
- auth: the HMAC-SHA256 trailer and the persisted replay counter of TCs;
- codes: services, error codes, events (each documented with its cause);
- tensors: tensor chunks of TC[200,1]/TM[200,3] and their reassembly;
- slots: model slots with atomic commits;
- services: the runtime side (PayloadService over a PayloadBackend);
- controller: the controller/ground side (ping, hk, infer, upload, ...);
- oplog: the runtime's event log, one line per significant event (text or JSON).
"""
