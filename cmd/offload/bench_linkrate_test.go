package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"offload/bench"
	"offload/bench/linkrate"
	"offload/internal/netns"
)

// TestLinkRateBenchMeasuresEveryLinkBothWays runs the packet-rate section
// briefly: a row per link, in the table as measured and in the report, each
// with positive rates, frame counts and CPU per frame both ways, one of them
// the baseline, and the document shows the section with its notes.
func TestLinkRateBenchMeasuresEveryLinkBothWays(t *testing.T) {
	netns.Require(t)
	rep := &bench.Report{}
	var table, progress bytes.Buffer
	linkRateBench(rep, 50*time.Millisecond, &table, &progress)
	t.Logf("table:\n%s\nprogress:\n%s", table.String(), progress.String())
	links := linkrate.Links()
	if len(rep.LinkRates) != len(links) {
		t.Fatalf("%d rows, want one per link (%d)", len(rep.LinkRates), len(links))
	}
	baselines := 0
	for i, r := range rep.LinkRates {
		if r.Link != links[i].Title {
			t.Errorf("row %d is %q, want %q", i, r.Link, links[i].Title)
		}
		if r.Error != "" {
			t.Errorf("%s: %s", r.Link, r.Error)
			continue
		}
		if r.RxMpps <= 0 || r.TxMpps <= 0 || r.RxFrames <= 0 || r.TxFrames <= 0 || r.RxCPUNsPerFrame <= 0 || r.TxCPUNsPerFrame <= 0 {
			t.Errorf("%s: implausible %+v", r.Link, r)
		}
		if !strings.Contains(table.String(), r.Link) {
			t.Errorf("the table has no row for %s", r.Link)
		}
		if r.Baseline {
			baselines++
		}
	}
	if baselines != 1 {
		t.Errorf("%d baseline rows, want 1", baselines)
	}
	var doc bytes.Buffer
	rep.Document(&doc, "")
	if !strings.Contains(doc.String(), "## Link packet rates") || !strings.Contains(doc.String(), "What bounds these numbers") {
		t.Errorf("document lacks the packet-rate section:\n%s", doc.String())
	}
}
