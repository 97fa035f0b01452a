package main

import (
	"bytes"
	"strings"
	"testing"
)

// The in-memory demo (two offload stacks over link/pipe, what `offload demo`
// runs without root) moves its bulk transfer with equal SHA-256 digests and
// times its round trips, and the table it prints has the header and an
// offload row with numbers and "equal". Small sizes keep it to a fraction of
// a second; it needs no privileges, so CI always runs it.
func TestInMemoryDemoTransfersVerifiedBytesAndPrintsItsRow(t *testing.T) {
	const size, rounds, msg, mtu = 1 << 20, 200, 64, 1500
	r, err := demoInMemory(size, rounds, msg, mtu, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.bulkErr != nil || r.latError != nil {
		t.Fatalf("bulk: %v; request/response: %v", r.bulkErr, r.latError)
	}
	if !r.bulk.Verified || !r.bulk.Hashed {
		t.Fatalf("bulk transfer not verified by SHA-256: %+v", r.bulk)
	}
	if r.bulk.Bytes != size || r.bulk.Duration <= 0 {
		t.Fatalf("bulk moved %d bytes in %v, want %d in a positive time", r.bulk.Bytes, r.bulk.Duration, size)
	}
	if len(r.lat.Samples) != rounds || r.lat.Percentile(50) <= 0 {
		t.Fatalf("%d round-trip samples (p50 %v), want %d with a positive p50", len(r.lat.Samples), r.lat.Percentile(50), rounds)
	}

	var out bytes.Buffer
	printDemo(&out, []demoResult{r}, msg)
	table := out.String()
	t.Logf("\n%s", table)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 {
		t.Fatalf("table has %d lines, want a header and one row:\n%s", len(lines), table)
	}
	for _, col := range []string{"path", "bulk Gbit/s", "SHA-256", "64-byte RTT p50", "p99"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks column %q", lines[0], col)
		}
	}
	row := lines[1]
	if !strings.Contains(row, "offload ↔ offload (link/pipe") || !strings.Contains(row, "equal") ||
		strings.Contains(row, "failed") || strings.Contains(row, "DIFFERENT") || strings.Count(row, "µs") != 2 {
		t.Errorf("offload row %q: want the pipe path, \"equal\", two latencies in µs, nothing failed", row)
	}
}
