//go:build linux

package afxdp_test

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"offload/internal/netns"
	"offload/internal/sys"
)

// xdpMd is struct xdp_md, the context of an XDP test run.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// kernelGen is an in-kernel frame generator: BPF_PROG_RUN in live-frames mode
// runs a tiny XDP program over one frame, repeat times, as if it arrived on
// an interface's queue 0, and the kernel acts on the verdict. With xskMap >= 0
// it redirects into that XSKMAP (an AF_XDP socket receives it as from the
// driver); otherwise it passes the frame to the kernel's stack (where packet
// sockets see it).
type kernelGen struct {
	prog    *ebpf.Program
	host    *netns.Host
	ifindex int
	frame   []byte
}

func newKernelGen(h *netns.Host, ifindex, xskMap int, frame []byte) (*kernelGen, error) {
	var insns asm.Instructions
	if xskMap >= 0 {
		insns = asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // rx_queue_index
			asm.LoadMapPtr(asm.R1, xskMap),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		}
	} else {
		insns = asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()} // XDP_PASS
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: insns, License: "Dual MIT/GPL"})
	if err != nil {
		return nil, fmt.Errorf("generator program: %w", err)
	}
	return &kernelGen{prog: p, host: h, ifindex: ifindex, frame: frame}, nil
}

// run injects n frames (from the calling goroutine; it blocks meanwhile).
func (g *kernelGen) run(n uint32) error {
	// The ingress interface index is looked up in the caller's namespace.
	return g.host.Run(func() error {
		_, err := g.prog.Run(&ebpf.RunOptions{
			Data:    g.frame,
			Context: xdpMd{Data: 0, DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(g.ifindex)},
			Repeat:  n,
			Flags:   sys.BPF_F_TEST_XDP_LIVE_FRAMES,
		})
		return err
	})
}

func (g *kernelGen) Close() { g.prog.Close() }
