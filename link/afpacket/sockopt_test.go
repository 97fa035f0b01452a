//go:build linux

package afpacket

import (
	"testing"

	"golang.org/x/sys/unix"

	"offload/internal/netns"
	"offload/internal/sys"
)

// TestSocketOptionsTookEffect reads the socket's options back with
// getsockopt(2): Open sets PACKET_QDISC_BYPASS and PACKET_IGNORE_OUTGOING as
// best effort (older kernels lack them) and ignores their errors, so only
// reading them back shows that this kernel applied them. The ring version must
// be the one Config asked for.
func TestSocketOptionsTookEffect(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames", true: "blocks"}[blocks], func(t *testing.T) {
			p := netns.NewPair(t, netns.PairConfig{Name: "afpopt", DisableIPv6: true})
			d, err := Open(Config{Interface: p.IfB, Netns: p.B.Path(), Blocks: blocks})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			wantVersion := sys.TPACKET_V2
			if blocks {
				wantVersion = sys.TPACKET_V3
			}
			for _, o := range []struct {
				name string
				opt  int
				want int
			}{
				{"PACKET_QDISC_BYPASS", sys.PACKET_QDISC_BYPASS, 1},
				{"PACKET_IGNORE_OUTGOING", sys.PACKET_IGNORE_OUTGOING, 1},
				{"PACKET_VNET_HDR", sys.PACKET_VNET_HDR, 1},
				{"PACKET_VERSION", sys.PACKET_VERSION, wantVersion},
			} {
				got, err := unix.GetsockoptInt(d.qs[0].fd, unix.SOL_PACKET, o.opt)
				if err != nil {
					t.Errorf("getsockopt %s: %v", o.name, err)
					continue
				}
				if got != o.want {
					t.Errorf("%s is %d, want %d", o.name, got, o.want)
				}
			}
		})
	}
}
