package tcp

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateNetsim = flag.Bool("netsim.update", false, "rewrite testdata/netsim.txt with the measured transfer times")

// TestNetsimThroughputTable transfers 1 MiB between two Conns for every
// buffer size and loss rate (mean of a few seeds), over a 1 ms one-way path with a seeded RNG
// (smoltcp's tests/netsim.rs), and compares the simulated completion time with
// the saved table: a change that makes any cell more than 10% slower fails.
// The simulation is deterministic, so the table only moves when the algorithms
// do; regenerate it with -netsim.update after an intended change.
func TestNetsimThroughputTable(t *testing.T) {
	if testing.Short() {
		t.Skip("netsim is slow-ish")
	}
	bufs := []int{16 << 10, 64 << 10, 256 << 10}
	losses := []int{0, 1, 5}
	var out strings.Builder
	got := map[string]time.Duration{}
	for _, buf := range bufs {
		for _, loss := range losses {
			key := fmt.Sprintf("buf=%dK loss=%d%%", buf>>10, loss)
			// Average a few seeds: one loss pattern says little about an algorithm.
			var d time.Duration
			for seed := range netsimSeeds {
				d += netsimRun(t, buf, loss, uint64(seed))
			}
			d /= netsimSeeds
			got[key] = d
			fmt.Fprintf(&out, "%s %d\n", key, d.Microseconds())
		}
	}
	path := filepath.Join("testdata", "netsim.txt")
	if *updateNetsim {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -netsim.update to create it)", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(saved)), "\n") {
		var b, l int
		var us int64
		if _, err := fmt.Sscanf(line, "buf=%dK loss=%d%% %d", &b, &l, &us); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		key := fmt.Sprintf("buf=%dK loss=%d%%", b, l)
		want := time.Duration(us) * time.Microsecond
		if d, ok := got[key]; !ok {
			t.Errorf("%s: no longer measured", key)
		} else if d > want+want/10 {
			t.Errorf("%s: %v, saved %v (more than 10%% slower)", key, d, want)
		} else if d != want {
			t.Logf("%s: %v (saved %v)", key, d, want)
		}
	}
}

const netsimSeeds = 5

// netsimRun returns the simulated time to move 1 MiB A->B.
func netsimRun(t *testing.T, buf, loss int, seed uint64) time.Duration {
	cfg := DefaultConfig()
	cfg.SendBufferSize, cfg.RecvBufferSize = buf, buf
	p := newPair(t, cfg, cfg, 1, 2, time.Millisecond)
	p.traceOn = false
	p.connect()
	rng := rand.New(rand.NewPCG(uint64(buf)+seed<<32, uint64(loss)))
	p.filter = func(bool, *seg) bool { return rng.IntN(100) < loss }
	src := make([]byte, 1<<20)
	for i := range src {
		src[i] = byte(i * 31)
	}
	start := p.now
	var got []byte
	off := 0
	rd := make([]byte, 64<<10)
	for len(got) < len(src) {
		if p.now.Sub(start) > 10*time.Minute {
			t.Fatalf("buf %d loss %d: stalled at %d", buf, loss, len(got))
		}
		n, _ := p.a.Write(src[off:])
		off += n
		p.runFor(100 * time.Microsecond)
		for {
			k, _ := p.b.Read(rd)
			if k == 0 {
				break
			}
			got = append(got, rd[:k]...)
		}
	}
	if !bytes.Equal(got, src) {
		t.Fatal("data differs")
	}
	return p.now.Sub(start)
}
