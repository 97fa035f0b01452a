package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"offload/bench"
	"offload/internal/netns"
)

// TestAggregationBenchMeasuresEveryLinkBothWays runs the aggregation
// proof-of-value at a small size: every link gets an on and an off cell with
// positive numbers, the on cells of links that deliver MTU-sized frames
// really merged segments, and nothing is left behind.
func TestAggregationBenchMeasuresEveryLinkBothWays(t *testing.T) {
	netns.Require(t)
	rep := &bench.Report{}
	var table, progress bytes.Buffer
	err := aggregationBench(rep, groParams{bytes: 32 << 20, repeats: 1, tcpBuf: 4 << 20, timeout: 60 * time.Second}, &table, &progress)
	t.Logf("table:\n%s\nprogress:\n%s", table.String(), progress.String())
	if err != nil {
		t.Fatal(err)
	}
	links := []string{groLinkTAPMTU, groLinkTAPTSO, groLinkAFPacketMTU, groLinkAFXDP}
	if len(rep.Aggregation) != 2*len(links) {
		t.Fatalf("%d cells, want %d", len(rep.Aggregation), 2*len(links))
	}
	for _, l := range links {
		on, off, ok := rep.AggregationPair(l)
		if !ok {
			t.Fatalf("%s: missing a cell", l)
		}
		for _, c := range []bench.AggregationRun{on, off} {
			if c.Error != "" {
				t.Fatalf("%s aggregation %v: %s", l, c.Aggregation, c.Error)
			}
			if c.Gbps <= 0 || c.TCPRunsPerMiB <= 0 || c.CPUSecondsPerGiB <= 0 || c.Bytes != 32<<20 {
				t.Fatalf("%s aggregation %v: implausible %+v", l, c.Aggregation, c)
			}
		}
		if off.SegmentsPerAggregate != 0 {
			t.Errorf("%s off: gro delivered aggregates (%v segments each)", l, off.SegmentsPerAggregate)
		}
		// A 1448-byte segment per TCP run is 724 runs per MiB; fewer with
		// aggregation on means the link's frames were really merged.
		if strings.Contains(l, "MTU") && !(on.SegmentsPerAggregate > 1 && on.TCPRunsPerMiB < off.TCPRunsPerMiB) {
			t.Errorf("%s: aggregation on merged nothing: %+v vs off %+v", l, on, off)
		}
	}
	var doc bytes.Buffer
	rep.Document(&doc, "")
	if !strings.Contains(doc.String(), "Receive aggregation on and off") || !strings.Contains(doc.String(), groLinkAFXDP) {
		t.Errorf("document lacks the aggregation section:\n%s", doc.String())
	}
}
