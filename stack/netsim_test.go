package stack_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	"offload/link/fault"
	"offload/tcp"
)

var update = flag.Bool("update", false, "rewrite testdata/netsim.golden with this run's table")

// TestNetsimThroughputTable transfers 1 MiB over a simulated 100 Mbit/s link
// with 1 ms of one-way delay for every buffer size × loss rate and compares the
// throughput table with the saved one (smoltcp's netsim). The run is
// deterministic, so any change in the numbers is a change in TCP's behaviour:
// look at it, and if it is an improvement (or intended), run
// `go test ./stack -run Netsim -update` and commit the new table with the change.
func TestNetsimThroughputTable(t *testing.T) {
	if raceEnabled {
		t.Skip("the table is for the optimised build; the race detector does not change simulated time but makes this slow")
	}
	losses := []float64{0, 0.001, 0.01, 0.05}
	buffers := []int{16 << 10, 64 << 10, 256 << 10}
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "buffer\\loss\t")
	for _, l := range losses {
		fmt.Fprintf(tw, "%.1f%%\t", l*100)
	}
	fmt.Fprintf(tw, "\n")
	for _, buf := range buffers {
		fmt.Fprintf(tw, "%d KiB\t", buf>>10)
		for _, loss := range losses {
			cfg := tcp.DefaultConfig()
			cfg.SendBufferSize, cfg.RecvBufferSize = buf, buf
			s := newSim(t, simConfig{
				seed:   uint64(buf) ^ uint64(loss*1e6),
				faults: fault.Faults{Loss: loss, Delay: time.Millisecond, Rate: 100e6},
				tcp:    &cfg,
			})
			ca, cb := s.connect(80)
			st := newStream(ca, cb, 1<<20, 9)
			d := s.transfer(st)
			st.check(t, fmt.Sprintf("buffer %d loss %v", buf, loss))
			fmt.Fprintf(tw, "%.2f Mbit/s\t", float64(st.size)*8/d.Seconds()/1e6)
		}
		fmt.Fprintf(tw, "\n")
	}
	tw.Flush()
	t.Logf("throughput, 1 MiB over 100 Mbit/s with 1 ms one-way delay:\n%s", out.String())
	golden := filepath.Join("testdata", "netsim.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("no saved table (%v): run go test ./stack -run Netsim -update", err)
	}
	if !bytes.Equal(want, out.Bytes()) {
		t.Fatalf("throughput table changed.\nsaved:\n%s\nthis run:\n%s\nIf the change is intended, rerun with -update and commit the table.", want, out.String())
	}
}
