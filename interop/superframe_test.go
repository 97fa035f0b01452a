//go:build linux

package interop

import (
	"testing"

	"offload/internal/netns"
)

// TestKernelTSOSuperFramesAreReceivedWhole: on both links the kernel keeps
// TSO on its side, so it hands our device TCP super-frames of up to 64 KiB
// (pkt.Meta.GSO set, checksum partial) instead of MTU-sized frames. The
// stack must take them whole — a segment far larger than the MSS we
// advertised, with a checksum it cannot verify — and deliver every byte. The
// transfer checks the bytes; the device counters prove the super-frames came.
func TestKernelTSOSuperFramesAreReceivedWhole(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 64<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			res := r.runTransfer(t, kernelClient, opUpload, size)
			ds := r.dev.Stats()
			ns := r.st.Stack().NICStats(0)
			avg := ds.RxBytes / max(ds.RxFrames, 1)
			t.Logf("%s; device received %d frames, %d bytes (%d bytes a frame on average); stack delivered %d packets, dropped %d with a bad transport header or checksum",
				res, ds.RxFrames, ds.RxBytes, avg, ns.Delivered, ns.RxBadTransport)
			if avg <= 1514 {
				t.Errorf("frames average %d bytes: the kernel sent no super-frames, so this test proves nothing", avg)
			}
			if ns.RxBadTransport != 0 || ns.RxBadIP != 0 {
				t.Errorf("the stack dropped %d frames as bad transport, %d as bad IP", ns.RxBadTransport, ns.RxBadIP)
			}
		})
	}
}

// TestOurTSOSuperFramesAreAcceptedByKernel: both devices announce TSO and
// transmit checksum offload, so the stack hands them TCP super-segments of up
// to 64 KiB with partial checksums, and the kernel cuts them into MSS-sized
// segments and finishes the checksums. The kernel must take every byte (the
// digest checks) and the device counters must show super-frames went out.
func TestOurTSOSuperFramesAreAcceptedByKernel(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 64<<20)
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			r := newRig(t, lt, rigOptions{})
			if c := r.dev.Caps(); !c.TSO || !c.TxChecksumOffload {
				t.Fatalf("device caps %+v: no TSO or checksum offload to test", c)
			}
			res := r.runTransfer(t, kernelClient, opDownload, size)
			ds := r.dev.Stats()
			avg := ds.TxBytes / max(ds.TxFrames, 1)
			t.Logf("%s; device sent %d frames, %d bytes (%d bytes a frame on average), dropped %d",
				res, ds.TxFrames, ds.TxBytes, avg, ds.TxDropped)
			if avg <= 1514 {
				t.Errorf("frames average %d bytes: the stack sent no super-frames", avg)
			}
		})
	}
}
