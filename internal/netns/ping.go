//go:build linux

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Ping makes the namespace's kernel send ICMP echo requests to dst, one at a
// time, until one is answered or timeout passes, like `ping -c 1 -w timeout`
// (no ping binary needed: it uses a raw ICMP socket opened inside the
// namespace). It returns the round-trip time of the answered request.
func (h *Host) Ping(dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	if !dst.Is4() {
		return 0, fmt.Errorf("netns: Ping supports IPv4 only, not %v", dst)
	}
	var c net.PacketConn
	err := h.Run(func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns %s: icmp socket: %w", h.name, err)
	}
	defer c.Close()
	id := uint16(os.Getpid())
	deadline := time.Now().Add(timeout)
	to := &net.IPAddr{IP: dst.AsSlice()}
	buf := make([]byte, 1500)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		req := echoRequest(id, seq)
		sent := time.Now()
		if _, err := c.WriteTo(req, to); err != nil {
			return 0, fmt.Errorf("netns %s: send echo to %v: %w", h.name, dst, err)
		}
		// Wait up to 200 ms for this sequence number, then send the next one:
		// the first request is often lost while ARP resolves.
		wait := min(time.Until(deadline), 200*time.Millisecond)
		c.SetReadDeadline(time.Now().Add(wait))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				return 0, err
			}
			ip, ok := from.(*net.IPAddr)
			if !ok || !ip.IP.Equal(to.IP) || n < 8 || buf[0] != 0 || buf[1] != 0 {
				continue // not an echo reply from dst
			}
			if binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
				if inetChecksum(buf[:n]) != 0 {
					return 0, fmt.Errorf("netns %s: echo reply from %v with a bad ICMP checksum", h.name, dst)
				}
				return time.Since(sent), nil
			}
		}
	}
	return 0, fmt.Errorf("netns %s: no echo reply from %v within %v", h.name, dst, timeout)
}

func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+32)
	b[0] = 8 // echo request (RFC 792)
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	return b
}

// inetChecksum is the RFC 1071 Internet checksum.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
