//go:build linux

package interop

import (
	"testing"
	"time"

	"offload/internal/netns"
	"offload/link/fault"
)

// TestBulkWithKernelSurvivesLossReorderDuplicationCorruption runs transfers
// both ways at once with the kernel while our device loses, reorders,
// duplicates and corrupts frames in both directions. Loss and corruption are
// repaired by retransmission on both sides (the kernel uses the SACK blocks we
// send to repair several holes per round trip), reordering and duplicates by
// reassembly; the digests must still match. Corrupted frames must be dropped
// by whoever verifies them: the wrapper withdraws the transmit checksum
// offload, so the kernel verifies ours, and marks corrupted received frames
// unverified, so the stack verifies theirs.
func TestBulkWithKernelSurvivesLossReorderDuplicationCorruption(t *testing.T) {
	netns.Require(t)
	size := min(transferSize(t), 32<<20)
	f := fault.Faults{Loss: 0.01, Reorder: 0.01, Duplicate: 0.005, Corrupt: 0.005, ReorderTimeout: time.Millisecond}
	for _, lt := range linkTypes {
		t.Run(lt, func(t *testing.T) {
			for _, role := range roles {
				t.Run(role, func(t *testing.T) {
					fc := &fault.Config{Rx: f, Tx: f, Seed: 42}
					r := newRig(t, lt, rigOptions{faults: fc})
					res := r.runTransfer(t, role, opBoth, size)
					rx, tx := r.dev.(*fault.Device).DirCounts()
					t.Logf("%s; faults received %+v, sent %+v", res, rx, tx)
					if rx.Dropped+tx.Dropped == 0 || rx.Corrupted+tx.Corrupted == 0 {
						t.Error("no frame was lost or corrupted: the test proves nothing")
					}
				})
			}
		})
	}
}
