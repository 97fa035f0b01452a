package tcp

import (
	"fmt"
	"strings"
	"testing"
)

// With 1% random loss both ways on a 2 ms RTT path (the simulation behind
// BenchmarkThroughputUnderLoss, deterministic for a seed, so nothing here is
// timed), SACK recovers faster than cumulative ACKs alone and RACK-TLP faster
// still, for NewReno and CUBIC alike: mean goodput over the seeds orders
// SACK+RACK > SACK > none (RFC 6675 §1: SACK lets the sender repair several
// holes per round trip; RFC 8985 §3: RACK detects losses by time, not by
// counting duplicate ACKs, and TLP repairs tail losses without a timeout),
// and with both on there are no more retransmission timeouts than with
// either alone or neither. (SACK without RACK may time out more than no SACK
// on some seeds: both wait for three duplicate ACKs, and a lost
// retransmission then still needs the timer.)
func TestSACKAndRACKRecoverFasterUnderOnePercentLoss_RFC6675_RFC8985(t *testing.T) {
	const size, permille = 4 << 20, 10
	const seeds = 5
	var table strings.Builder
	fmt.Fprintf(&table, "4 MiB at 1%% loss each way, 2 ms RTT, mean of %d seeds:\n", seeds)
	fmt.Fprintf(&table, "  %-20s %10s %8s %8s\n", "variant", "sim-Mbit/s", "RTOs", "retx")
	res := make(map[string]lossResult, len(lossVariants))
	for _, v := range lossVariants {
		r := lossRun(t, v.cfg, size, permille, seeds)
		res[v.name] = r
		fmt.Fprintf(&table, "  %-20s %10.1f %8.1f %8.1f\n", v.name, r.mbit, r.rtos, r.retx)
	}
	t.Log(table.String())
	for _, cc := range []string{"NewReno", "CUBIC"} {
		none, sack, rack := res[cc+"/noSACK"], res[cc+"/SACK"], res[cc+"/SACK+RACK"]
		if !(rack.mbit > sack.mbit && sack.mbit > none.mbit) {
			t.Errorf("%s: goodput none %.1f, SACK %.1f, SACK+RACK %.1f Mbit/s; want each above the one before", cc, none.mbit, sack.mbit, rack.mbit)
		}
		if rack.rtos > none.rtos || rack.rtos > sack.rtos {
			t.Errorf("%s: RTOs per transfer none %.1f, SACK %.1f, SACK+RACK %.1f; want none more with both on", cc, none.rtos, sack.rtos, rack.rtos)
		}
	}
}
