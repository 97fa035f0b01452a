//go:build linux

package netns

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// KernelStream sends size bytes over TCP from A's kernel to a listener of
// B's kernel at to and reports whether they all arrived intact (SHA-256),
// within timeout. Tests use it to show the host's own traffic keeps flowing
// on an interface a stack shares with it.
func (p *Pair) KernelStream(to netip.AddrPort, size int, timeout time.Duration) error {
	var ln net.Listener
	if err := p.B.Run(func() (err error) { ln, err = net.Listen("tcp", to.String()); return err }); err != nil {
		return err
	}
	defer ln.Close()
	done := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		done <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	if err := p.A.Run(func() (err error) { c, err = net.DialTimeout("tcp", to.String(), 5*time.Second); return err }); err != nil {
		return err
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 31)
	}
	c.SetDeadline(time.Now().Add(timeout))
	_, err := c.Write(data)
	c.Close()
	if err != nil {
		return fmt.Errorf("the host's TCP stream to %v: %w", to, err)
	}
	select {
	case got := <-done:
		if got != sha256.Sum256(data) {
			return fmt.Errorf("the host's TCP stream to %v arrived different", to)
		}
	case <-time.After(timeout):
		return fmt.Errorf("the host's TCP stream to %v did not finish", to)
	}
	return nil
}
