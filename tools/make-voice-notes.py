#!/usr/bin/env python3
"""Writes the voice notes the virtual users send (data/files/voice-<N>s.oga): Ogg/Opus files of
N seconds of silence, as Telegram stores voice notes (mono, 48 kHz, 20 ms packets, a page a
second). Standard library only:

    tools/make-voice-notes.py data/files

Each file is an OpusHead page, an OpusTags page, then pages of the 3-byte Opus packet that
decodes to 20 ms of silence (TOC 0xF8: CELT, fullband, 20 ms, mono, one frame). The last
page's granule position trims the stream to exactly N seconds after the pre-skip (RFC 7845).
"""

import os
import struct
import sys

DURATIONS = (2, 5, 12)
SERIAL = 0x5354_5253  # "STRS"
PRE_SKIP = 312
SAMPLES_PER_PACKET = 960  # 20 ms at 48 kHz
SILENCE = bytes([0xF8, 0xFF, 0xFE])
PACKETS_PER_PAGE = 50  # one second


def crc_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x8000_0000 else (r << 1)
        table.append(r & 0xFFFF_FFFF)
    return table


TABLE = crc_table()


def ogg_crc(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF_FFFF) ^ TABLE[((crc >> 24) ^ b) & 0xFF]
    return crc


def page(packets, granule, seq, flags):
    lacing = bytearray()
    for p in packets:
        n = len(p)
        lacing += b"\xff" * (n // 255) + bytes([n % 255])
    assert len(lacing) <= 255
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, SERIAL, seq, 0, len(lacing))
    body = bytes(lacing) + b"".join(packets)
    crc = ogg_crc(head + body)
    return head[:22] + struct.pack("<I", crc) + head[26:] + body


def voice_note(seconds):
    opus_head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, PRE_SKIP, 48000, 0, 0)
    vendor = b"stress tools/make-voice-notes.py"
    opus_tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [page([opus_head], 0, 0, 0x02), page([opus_tags], 0, 1, 0)]
    # Enough packets to cover the pre-skip and N seconds; the last granule trims the rest.
    total = seconds * 48000 + PRE_SKIP
    packets = -(-total // SAMPLES_PER_PACKET)
    done, seq = 0, 2
    while done < packets:
        n = min(PACKETS_PER_PAGE, packets - done)
        done += n
        last = done == packets
        granule = total if last else done * SAMPLES_PER_PACKET
        pages.append(page([SILENCE] * n, granule, seq, 0x04 if last else 0))
        seq += 1
    return b"".join(pages)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-voice-notes.py <folder>")
    for seconds in DURATIONS:
        path = os.path.join(sys.argv[1], f"voice-{seconds}s.oga")
        with open(path, "wb") as f:
            f.write(voice_note(seconds))
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
