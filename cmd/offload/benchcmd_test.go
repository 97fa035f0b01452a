package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"offload/bench"
	"offload/internal/netns"
)

// TestBenchEveryConfigurationProducesNumbersAndFiles is `offload bench
// --quick` with tiny sizes: every configuration must measure every scenario,
// the files must be written and readable, and no namespace may be left.
func TestBenchEveryConfigurationProducesNumbersAndFiles(t *testing.T) {
	netns.Require(t)
	if testing.Short() {
		t.Skip("builds namespaces and runs seven configurations, two of them gVisor built with the Go toolchain (~15 s)")
	}
	p := benchParams{bulkBytes: 1 << 20, flowBytes: 128 << 10, flows: 8, checkBytes: 1 << 20,
		idleConns: 4000, groBytes: 4 << 20, groRepeats: 1, linkRate: 50 * time.Millisecond, // fewer idle connections would drown in RSS noise
		rounds: 100, loadConns: 4, loadRounds: 50, msg: 64, cpsDuration: 200 * time.Millisecond, cpsMax: 50, repeats: 2, timeout: 20 * time.Second}
	if raceEnabled {
		// Under the race detector the process's RSS moves by tens of MB on
		// its own; bench_idle_test measures the scenario in a fresh state.
		p.idleConns = 0
	}
	dir := t.TempDir()
	jsonPath, svgPath, docPath := filepath.Join(dir, "b.json"), filepath.Join(dir, "svg", "b.svg"), filepath.Join(dir, "docs", "BENCHMARKS.md")
	rep := newBenchReport(p, benchCommand(true, jsonPath, svgPath, docPath, 0))
	var table, progress bytes.Buffer
	start := time.Now()
	if err := benchAll(rep, p, &table, &progress); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	t.Logf("%s\n%s(%s)", progress.String(), table.String(), time.Since(start).Round(time.Millisecond))

	// Every namespace this process made is gone.
	entries, _ := os.ReadDir(netns.RunDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", netns.Prefix, os.Getpid())) && strings.Contains(e.Name(), "bench") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}

	if len(rep.Configs) != 8 {
		t.Fatalf("configurations %q, want 8", rep.Configs)
	}
	noIdle := map[string]bool{cfgGvisorTAP: true, cfgGvisorAFPacket: true, cfgAFXDPNoGRO: true, cfgOffload: true}
	if p.idleConns == 0 {
		for _, c := range rep.Configs {
			noIdle[c] = true
		}
	}
	for _, c := range rep.Configs {
		if !strings.Contains(table.String(), c) {
			t.Errorf("the table has no row for %s", c)
		}
		for _, s := range rep.Scenarios {
			res, ok := rep.Get(c, s.ID)
			if s.ID == scIdleMem && noIdle[c] {
				if ok {
					t.Errorf("%s: idle memory measured: %+v", c, res)
				}
				continue
			}
			switch {
			case !ok:
				t.Errorf("%s, %s: no result", c, s.ID)
			case res.Error != "":
				t.Errorf("%s, %s: %s", c, s.ID, res.Error)
			case res.Value <= 0:
				t.Errorf("%s, %s: value %v", c, s.ID, res.Value)
			case s.Unit == "Gbit/s" && !res.Verified:
				t.Errorf("%s, %s: not verified", c, s.ID)
			case (s.Unit == "Gbit/s" || s.ID == scCPS) && len(res.Runs) != p.repeats:
				t.Errorf("%s, %s: %d runs, want %d", c, s.ID, len(res.Runs), p.repeats)
			}
			if _, ok := rep.Ratio(c, s.ID); !ok {
				t.Errorf("%s, %s: no ratio to the baseline", c, s.ID)
			}
		}
		if p50, _ := rep.Get(c, scRRp50); p50.Samples != int64(p.rounds) {
			t.Errorf("%s: latency from %d samples, want %d", c, p50.Samples, p.rounds)
		}
	}

	if err := writeBenchFiles(rep, jsonPath, svgPath, docPath); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := bench.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(rep.Configs)*len(rep.Scenarios) - len(noIdle); len(back.Results) != want || back.Machine.Kernel == "" {
		t.Errorf("JSON has %d results (want %d), machine %+v", len(back.Results), want, back.Machine)
	}
	// The aggregation runs: every link on and off, and back from the JSON.
	if len(back.Aggregation) != 8 {
		t.Errorf("%d aggregation cells in the JSON, want 8", len(back.Aggregation))
	}
	for _, a := range back.Aggregation {
		if a.Error != "" || a.Gbps <= 0 || a.TCPRunsPerMiB <= 0 {
			t.Errorf("aggregation cell %+v", a)
		}
	}
	// The packet rates: a row per link, and back from the JSON.
	if len(back.LinkRates) != 4 || len(back.LinkRateNotes) == 0 {
		t.Errorf("%d packet-rate rows in the JSON (want 4), %d notes", len(back.LinkRates), len(back.LinkRateNotes))
	}
	for _, l := range back.LinkRates {
		if l.Error != "" || l.RxMpps <= 0 || l.TxMpps <= 0 {
			t.Errorf("packet-rate row %+v", l)
		}
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Errorf("SVG: %v %.40q", err, svg)
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("## Receive aggregation on and off")) {
		t.Errorf("the document has no aggregation section")
	}
	if !bytes.Contains(doc, []byte("](../svg/b.svg)")) {
		t.Errorf("the document does not embed the chart by its relative path:\n%s", doc)
	}
}

// TestBenchNotRootSaysSoAndFails runs `offload bench` as the user nobody.
func TestBenchNotRootSaysSoAndFails(t *testing.T) {
	if os.Getenv(netns.NobodyEnv) == "1" {
		fmt.Printf("bench: %v\n", runBench([]string{"--quick"}))
		return
	}
	netns.Require(t)
	out, err := netns.RunAsNobody(t, "TestBenchNotRootSaysSoAndFails")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{
		"offload bench needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)",
		"bench: netns: not privileged; rerun as root, e.g. sudo offload bench --quick",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output as nobody lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchRejectsStrayArguments(t *testing.T) {
	if err := runBench([]string{"--quick", "extra"}); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("runBench with a stray argument: %v", err)
	}
}

func TestBenchCommandRerunsWithTheSameFlags(t *testing.T) {
	got := benchCommand(true, "b.json", "docs/benchmarks.svg", "docs/BENCHMARKS.md", 50*time.Microsecond)
	want := "offload bench --quick --busy-poll 50µs --json b.json --svg docs/benchmarks.svg --doc docs/BENCHMARKS.md"
	if got != want {
		t.Errorf("benchCommand = %q, want %q", got, want)
	}
	if got := benchCommand(false, "", "", "", 0); got != "offload bench" {
		t.Errorf("benchCommand of the defaults = %q", got)
	}
}

// TestBenchFromJSONRedrawsWithoutMeasuring: --from renders the chart and
// the page from an earlier run's JSON, as any user, with the SVG beside the
// page by default.
func TestBenchFromJSONRedrawsWithoutMeasuring(t *testing.T) {
	p := quickBenchParams()
	rep := newBenchReport(p, "offload bench --quick")
	for i, c := range rep.Configs {
		for _, s := range rep.Scenarios {
			rep.Add(bench.Result{Config: c, Scenario: s.ID, Value: float64(10 * (i + 1))})
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "docs", "BENCHMARKS.md")
	if err := runBench([]string{"--from", in, "--doc", doc}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "docs", "benchmarks.svg")); err != nil {
		t.Errorf("no chart beside the page: %v", err)
	}
	for _, want := range []string{"](benchmarks.svg)", "| offload↔kernel TAP | 20.00 |", "offload bench --quick"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if err := runBench([]string{"--from", filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("--from a missing file succeeded")
	}
}
