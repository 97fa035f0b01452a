//go:build linux

package afxdp

import "github.com/cilium/ebpf/asm"

// XSKMapFD exposes the device's XSKMAP to the benchmarks' in-kernel frame
// generator, which redirects into it as the interface's own program would.
func XSKMapFD(d *Device) int { return d.xsks.FD() }

// WithProgram returns cfg with the XDP program passed through f before it is
// loaded, so a test can hand the kernel a program an older verifier would
// refuse.
func WithProgram(cfg Config, f func(asm.Instructions) asm.Instructions) Config {
	cfg.hooks = &hooks{program: f}
	return cfg
}

// WithSockopt returns cfg with the kernel made to refuse the SOL_SOCKET
// options for which refuse returns an error.
func WithSockopt(cfg Config, refuse func(opt int) error) Config {
	cfg.hooks = &hooks{sockopt: refuse}
	return cfg
}
