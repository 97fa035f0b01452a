//go:build linux

package afxdp

// XSKMapFD exposes the device's XSKMAP to the benchmarks' in-kernel frame
// generator, which redirects into it as the interface's own program would.
func XSKMapFD(d *Device) int { return d.xsks.FD() }
