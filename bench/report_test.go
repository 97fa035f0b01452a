package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	r := &Report{
		Machine:  Machine{Kernel: "6.18.0", CPU: "Test CPU <x> & co", Cores: 2, GoVersion: "go1.26", Arch: "linux/amd64", Date: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)},
		Command:  "offload bench --quick",
		Settings: map[string]float64{"rr_round_trips": 2000, "cps_seconds": 0.5},
		Baseline: "kernel",
		Configs:  []string{"kernel", "offload TAP", "offload | pipe"},
		Scenarios: []Scenario{
			{ID: "bulk", Title: "1 flow →", Unit: "Gbit/s", HigherIsBetter: true},
			{ID: "p50", Title: "RR p50", Unit: "µs"},
			{ID: "cps", Title: "conn", Unit: "conn/s", HigherIsBetter: true},
		},
		Notes: []string{"a note"},
	}
	r.Add(Result{Config: "kernel", Scenario: "bulk", Value: 20, Samples: 1 << 20, Verified: true})
	r.Add(Result{Config: "kernel", Scenario: "p50", Value: 5, Samples: 2000})
	r.Add(Result{Config: "kernel", Scenario: "cps", Value: 8000, Runs: []float64{7000, 8000, 9000}})
	r.Add(Result{Config: "offload TAP", Scenario: "bulk", Value: 10, Verified: true})
	r.Add(Result{Config: "offload TAP", Scenario: "p50", Value: 100})
	r.Add(Result{Config: "offload TAP", Scenario: "cps", Error: "after 3 connections: connection refused"})
	r.Add(Result{Config: "offload | pipe", Scenario: "bulk", Value: 30})
	r.Add(Result{Config: "offload | pipe", Scenario: "p50", Value: 2.5})
	return r
}

func TestReportJSONRoundTripKeepsEveryNumber(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the report:\n got %+v\nwant %+v", got, r)
	}
	if _, err := ReadJSON(strings.NewReader(`{"results": [`)); err == nil {
		t.Fatal("a truncated report was read without an error")
	}
}

func TestAddReplacesTheSameCell(t *testing.T) {
	r := sampleReport()
	n := len(r.Results)
	r.Add(Result{Config: "kernel", Scenario: "bulk", Value: 21})
	if len(r.Results) != n {
		t.Fatalf("Add of an existing cell grew the results from %d to %d", n, len(r.Results))
	}
	if got, _ := r.Get("kernel", "bulk"); got.Value != 21 {
		t.Fatalf("Get after replacing = %v, want 21", got.Value)
	}
}

func TestRatioIsASpeedUpForRatesAndForLatencies(t *testing.T) {
	r := sampleReport()
	for _, c := range []struct {
		config, scenario string
		want             float64
		ok               bool
	}{
		{"kernel", "bulk", 1, true},
		{"offload TAP", "bulk", 0.5, true},    // half the rate
		{"offload | pipe", "bulk", 1.5, true}, // faster than the kernel
		{"offload TAP", "p50", 0.05, true},    // 20 times the latency
		{"offload | pipe", "p50", 2, true},    // half the latency
		{"offload TAP", "cps", 0, false},      // failed
		{"offload | pipe", "cps", 0, false},   // missing
		{"nobody", "bulk", 0, false},          // unknown configuration
		{"kernel", "nothing", 0, false},       // unknown scenario
	} {
		got, ok := r.Ratio(c.config, c.scenario)
		if ok != c.ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Ratio(%q, %q) = %v, %v; want %v, %v", c.config, c.scenario, got, ok, c.want, c.ok)
		}
	}
	// A failed baseline makes every ratio of that scenario unknown.
	r.Add(Result{Config: "kernel", Scenario: "bulk", Error: "boom"})
	if _, ok := r.Ratio("offload TAP", "bulk"); ok {
		t.Error("a ratio against a failed baseline was reported")
	}
}

// svgElements decodes an SVG with encoding/xml, failing the test if it is
// not well-formed, and counts its elements by name.
func svgElements(t *testing.T, svg []byte) (map[string]int, []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	counts := map[string]int{}
	var texts []string
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tok.Name)
			}
			depth++
			counts[tok.Name.Local]++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if depth != 0 {
		t.Fatalf("SVG ends with %d elements open", depth)
	}
	return counts, texts
}

func TestSVGIsWellFormedWithABarPerRatioAndAMarkPerGap(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.SVG(&b); err != nil {
		t.Fatal(err)
	}
	counts, texts := svgElements(t, b.Bytes())
	// Bars carry a <title>; the compared configurations are two, the
	// scenarios three, and two cells (a failure, a missing one) have no ratio.
	if got, want := counts["title"], 2*3-2; got != want {
		t.Errorf("%d bars, want %d", got, want)
	}
	marks := 0
	for _, s := range texts {
		if s == "×" {
			marks++
		}
	}
	if marks != 2 {
		t.Errorf("%d × marks for missing or failed numbers, want 2", marks)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"Test CPU <x> & co", "offload | pipe", "kernel = 1", "RR p50", "0.05"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

func TestSVGOfAnEmptyReportIsStillWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := (&Report{Baseline: "kernel", Configs: []string{"kernel"}}).SVG(&b); err != nil {
		t.Fatal(err)
	}
	svgElements(t, b.Bytes())
}

func TestMarkdownHasARowPerConfigurationInBothTables(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	r.Markdown(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var rows [][]string
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") {
			// Split on unescaped pipes only.
			cells := strings.Split(strings.ReplaceAll(strings.Trim(l, "| "), `\|`, "\x00"), " | ")
			for i := range cells {
				cells[i] = strings.ReplaceAll(cells[i], "\x00", "|")
			}
			rows = append(rows, cells)
		}
	}
	// Each table: header, rule, three configurations.
	if len(rows) != 10 {
		t.Fatalf("%d table lines, want 10:\n%s", len(rows), b.String())
	}
	for i, row := range rows {
		if len(row) != 4 {
			t.Errorf("line %d has %d cells, want 4: %q", i, len(row), row)
		}
	}
	want := [][]string{
		{"configuration", "1 flow → Gbit/s", "RR p50 µs", "conn conn/s"},
		{"---", "---:", "---:", "---:"},
		{"kernel", "20.00", "5.00", "8000"},
		{"offload TAP", "10.00", "100.0", "failed"},
		{"offload | pipe", "30.00", "2.50", "—"},
		{"configuration", "1 flow →", "RR p50", "conn"},
		{"---", "---:", "---:", "---:"},
		{"kernel", "1", "1", "1"},
		{"offload TAP", "0.5", "0.05", "—"},
		{"offload | pipe", "1.5", "2", "—"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("tables:\n got %q\nwant %q", rows, want)
	}
}

func TestDocumentSaysMachineChartFailuresAndHowToRerun(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	r.Document(&b, "benchmarks.svg")
	doc := b.String()
	for _, want := range []string{
		"Test CPU <x> & co, 2 logical cores",
		"Linux 6.18.0",
		"go1.26",
		"](benchmarks.svg)",
		"offload TAP, cps: after 3 connections: connection refused",
		"```\noffload bench --quick\n```",
		"- a note",
		"- cps_seconds: 0.5",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
}

func TestTableRowsLineUpWithTheHeader(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	r.TableHeader(&b, 16)
	for _, c := range r.Configs {
		r.TableRow(&b, 16, c)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	width := len([]rune(lines[0]))
	for _, l := range lines[1:] {
		if n := len([]rune(l)); n != width {
			t.Errorf("row %q is %d runes wide, header %d", l, n, width)
		}
	}
}

func TestFormatRatioKeepsSmallRatiosVisible(t *testing.T) {
	for x, want := range map[float64]string{
		1: "1", 0.5: "0.5", 1.234: "1.23", 25.4: "25", 0.06: "0.06", 0.0046: "0.0046", 0.00123: "0.0012",
	} {
		if got := formatRatio(x); got != want {
			t.Errorf("formatRatio(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !reflect.DeepEqual(in, c.in) && c.in != nil {
			t.Errorf("Median reordered its argument: %v", c.in)
		}
	}
}

func TestCPUModelIsTheFirstModelName(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: X\nmodel name\t: Fast CPU @ 3GHz\n\nprocessor\t: 1\nmodel name\t: Other\n"
	if got := cpuModel(strings.NewReader(in)); got != "Fast CPU @ 3GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel(strings.NewReader("processor : 0\n")); got != "unknown" {
		t.Errorf("cpuModel without a model name = %q, want unknown", got)
	}
	m := ThisMachine()
	if m.Cores < 1 || m.GoVersion == "" || m.Date.IsZero() {
		t.Errorf("ThisMachine() = %+v", m)
	}
}
