package bench

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Machine is what a benchmark ran on, so a number is never quoted without it.
type Machine struct {
	Kernel    string    `json:"kernel"`     // uname -r
	CPU       string    `json:"cpu"`        // model name from /proc/cpuinfo
	Cores     int       `json:"cores"`      // logical CPUs the Go runtime sees
	GoVersion string    `json:"go_version"` // runtime.Version()
	Arch      string    `json:"arch"`       // GOOS/GOARCH
	Date      time.Time `json:"date"`       // when the run started (UTC)
}

// ThisMachine describes the machine the calling process runs on.
func ThisMachine() Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Arch:      runtime.GOOS + "/" + runtime.GOARCH,
		Date:      time.Now().UTC().Truncate(time.Second),
		Kernel:    "unknown",
		CPU:       "unknown",
	}
	// /proc/sys/kernel/osrelease is what uname -r prints.
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(f)
		f.Close()
	}
	return m
}

// cpuModel returns the first "model name" of a /proc/cpuinfo.
func cpuModel(r io.Reader) string {
	s := bufio.NewScanner(r)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Scenario is one measured quantity: a column of the table.
type Scenario struct {
	ID             string `json:"id"`
	Title          string `json:"title"` // short column heading
	Unit           string `json:"unit"`
	HigherIsBetter bool   `json:"higher_is_better"`
}

// Result is one number: a scenario measured on a configuration.
type Result struct {
	Config   string  `json:"config"`
	Scenario string  `json:"scenario"`
	Value    float64 `json:"value"`
	// Samples behind Value: round trips for latency, connections for
	// connection rate, bytes for bulk transfers.
	Samples int64 `json:"samples,omitempty"`
	// Runs holds every repetition's value when the scenario was repeated;
	// Value is then their median.
	Runs []float64 `json:"runs,omitempty"`
	// Verified, for bulk transfers: a SHA-256-checked transfer in the same
	// direction on the same configuration matched, and the receiver counted
	// every byte of the timed one.
	Verified bool   `json:"verified,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Report is a whole benchmark run: where it ran, what with, and every number.
type Report struct {
	Machine Machine `json:"machine"`
	// Command reruns the benchmark.
	Command string `json:"command"`
	// Settings are the run's parameters (sizes, counts, durations), by name.
	Settings map[string]float64 `json:"settings"`
	// Baseline is the configuration every ratio is taken against.
	Baseline  string     `json:"baseline"`
	Configs   []string   `json:"configs"`
	Scenarios []Scenario `json:"scenarios"`
	Results   []Result   `json:"results"`
	// Notes say what a reader must know to read the numbers (link fallbacks,
	// direction conventions).
	Notes []string `json:"notes,omitempty"`
	// Aggregation holds the receive-aggregation on/off measurements, when
	// the run made them (see AggregationRun).
	Aggregation []AggregationRun `json:"aggregation,omitempty"`
	// AggregationNotes say how the aggregation table was measured.
	AggregationNotes []string `json:"aggregation_notes,omitempty"`
	// LinkRates holds the links' packet rates, when the run measured them
	// (see LinkRate); LinkRateNotes say how.
	LinkRates     []LinkRate `json:"link_rates,omitempty"`
	LinkRateNotes []string   `json:"link_rate_notes,omitempty"`
}

// Add records a result, replacing an earlier one for the same cell.
func (r *Report) Add(res Result) {
	for i := range r.Results {
		if r.Results[i].Config == res.Config && r.Results[i].Scenario == res.Scenario {
			r.Results[i] = res
			return
		}
	}
	r.Results = append(r.Results, res)
}

// Get returns the result for a configuration and scenario.
func (r *Report) Get(config, scenario string) (Result, bool) {
	for _, res := range r.Results {
		if res.Config == config && res.Scenario == scenario {
			return res, true
		}
	}
	return Result{}, false
}

func (r *Report) scenario(id string) (Scenario, bool) {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s, true
		}
	}
	return Scenario{}, false
}

// usable says whether a result is a number worth comparing.
func usable(res Result, ok bool) bool {
	return ok && res.Error == "" && res.Value > 0 && !math.IsInf(res.Value, 0) && !math.IsNaN(res.Value)
}

// Ratio returns how config compares with the baseline on a scenario, as a
// speed-up: above 1 is better than the baseline, below 1 worse, whichever way
// the scenario's unit points (for latency it is baseline/config, for rates
// config/baseline). ok is false when either number is missing or failed.
func (r *Report) Ratio(config, scenario string) (ratio float64, ok bool) {
	s, found := r.scenario(scenario)
	if !found {
		return 0, false
	}
	v, vok := r.Get(config, scenario)
	b, bok := r.Get(r.Baseline, scenario)
	if !usable(v, vok) || !usable(b, bok) {
		return 0, false
	}
	if s.HigherIsBetter {
		return v.Value / b.Value, true
	}
	return b.Value / v.Value, true
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading a benchmark report: %w", err)
	}
	return &r, nil
}

// FormatValue formats a number for a table cell in its scenario's unit.
func FormatValue(s Scenario, res Result, ok bool) string {
	switch {
	case !ok:
		return "—"
	case res.Error != "":
		return "failed"
	}
	switch {
	case res.Value >= 1000:
		return fmt.Sprintf("%.0f", res.Value)
	case res.Value >= 100:
		return fmt.Sprintf("%.1f", res.Value)
	default:
		return fmt.Sprintf("%.2f", res.Value)
	}
}

// Column is the heading of a scenario's column, with its unit.
func (s Scenario) Column() string { return s.Title + " " + s.Unit }

// TableHeader and TableRow print the results table a row at a time, so a
// command can show each configuration's numbers as soon as they exist.
// nameWidth is the width of the configuration column.
func (r *Report) TableHeader(w io.Writer, nameWidth int) {
	fmt.Fprintf(w, "%-*s", nameWidth, "configuration")
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, " %*s", colWidth(s), s.Column())
	}
	fmt.Fprintln(w)
}

// TableRow prints one configuration's row (see TableHeader).
func (r *Report) TableRow(w io.Writer, nameWidth int, config string) {
	fmt.Fprintf(w, "%-*s", nameWidth, config)
	for _, s := range r.Scenarios {
		res, ok := r.Get(config, s.ID)
		fmt.Fprintf(w, " %*s", colWidth(s), FormatValue(s, res, ok))
	}
	fmt.Fprintln(w)
}

func colWidth(s Scenario) int { return max(9, len([]rune(s.Column()))) }

// Markdown writes the results as two GitHub tables: the numbers, then each
// as a ratio to the baseline.
func (r *Report) Markdown(w io.Writer) {
	row := func(cells []string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	head := []string{"configuration"}
	rule := []string{"---"}
	for _, s := range r.Scenarios {
		head = append(head, s.Column())
		rule = append(rule, "---:")
	}
	row(head)
	row(rule)
	for _, c := range r.Configs {
		cells := []string{mdEscape(c)}
		for _, s := range r.Scenarios {
			res, ok := r.Get(c, s.ID)
			cells = append(cells, FormatValue(s, res, ok))
		}
		row(cells)
	}
	fmt.Fprintf(w, "\nAs a ratio to %s (above 1: better than it, for latency too):\n\n", mdEscape(r.Baseline))
	head[0] = "configuration"
	for i, s := range r.Scenarios {
		head[i+1] = s.Title
	}
	row(head)
	row(rule)
	for _, c := range r.Configs {
		cells := []string{mdEscape(c)}
		for _, s := range r.Scenarios {
			if x, ok := r.Ratio(c, s.ID); ok {
				cells = append(cells, formatRatio(x))
			} else {
				cells = append(cells, "—")
			}
		}
		row(cells)
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Failures lists every failed result as "config, scenario: error".
func (r *Report) Failures() []string {
	var out []string
	for _, res := range r.Results {
		if res.Error != "" {
			out = append(out, fmt.Sprintf("%s, %s: %s", res.Config, res.Scenario, res.Error))
		}
	}
	return out
}

// The chart's palette, one colour per compared configuration (cycled).
var chartColours = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948"}

// SVG draws a grouped bar chart: one group per scenario, one bar per
// configuration other than the baseline, the bar's height its Ratio, and a
// line at 1 (the baseline). Missing or failed numbers get no bar and an ×.
func (r *Report) SVG(w io.Writer) error {
	var configs []string
	for _, c := range r.Configs {
		if c != r.Baseline {
			configs = append(configs, c)
		}
	}
	const (
		left, right, top = 60.0, 20.0, 70.0
		plotH            = 300.0
		barW, gap        = 16.0, 24.0
		legendLine       = 18.0
	)
	groupW := float64(max(1, len(configs)))*barW + gap
	plotW := groupW * float64(max(1, len(r.Scenarios)))
	width := left + plotW + right
	labelsH := 60.0
	height := top + plotH + labelsH + legendLine*float64(len(configs)+1) + 10

	// Ratios span orders of magnitude (a 1 ms latency floor against 5 µs),
	// so the y axis is logarithmic, from a power of ten at or below the
	// smallest ratio to one at or above the largest, and each bar grows from
	// the baseline's line at 1: up is better, down worse.
	lo, hi := 1.0, 1.0
	for _, c := range configs {
		for _, s := range r.Scenarios {
			if x, ok := r.Ratio(c, s.ID); ok {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	dlo := math.Floor(math.Log10(lo))
	dhi := math.Ceil(math.Log10(hi))
	if dhi-dlo < 1 {
		dhi = dlo + 1
	}
	y := func(v float64) float64 { return top + plotH - (math.Log10(v)-dlo)/(dhi-dlo)*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, esc("Each configuration as a ratio to "+r.Baseline))
	fmt.Fprintf(&b, `<text x="%.0f" y="36">%s</text>`+"\n", left, esc("log scale; above 1: better than the baseline (latency: baseline ÷ configuration)"))
	fmt.Fprintf(&b, `<text x="%.0f" y="52" fill="#666">%s</text>`+"\n", left, esc(fmt.Sprintf("%s, %d cores, Linux %s, %s, %s", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.Date.Format("2006-01-02"))))
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if d == dhi && m > 1 {
				break
			}
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", left, y(v), left+plotW, y(v), stroke)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, formatRatio(v))
		}
	}
	for gi, s := range r.Scenarios {
		x0 := left + float64(gi)*groupW + gap/2
		for ci, c := range configs {
			x := x0 + float64(ci)*barW
			colour := chartColours[ci%len(chartColours)]
			ratio, ok := r.Ratio(c, s.ID)
			if !ok {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">×</text>`+"\n", x+barW/2, y(1)-3, colour)
				continue
			}
			y0, y1 := min(y(1), y(ratio)), max(y(1), y(ratio))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				x, y0, barW-2, max(y1-y0, 1), colour, esc(fmt.Sprintf("%s, %s: %s", c, s.Title, formatRatio(ratio))))
		}
		cx := x0 + float64(len(configs))*barW/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", cx, top+plotH+16, esc(s.Title))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#666">%s</text>`+"\n", cx, top+plotH+30, esc(s.Unit))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-dasharray="4 3"/>`+"\n", left, y(1), left+plotW, y(1))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top, left, top+plotH)
	ly := top + plotH + labelsH
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-dasharray="4 3"/>`+"\n", left, ly-4, left+12, ly-4)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+18, ly, esc(r.Baseline+" = 1"))
	for ci, c := range configs {
		yy := ly + legendLine*float64(ci+1)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", left, yy-10, chartColours[ci%len(chartColours)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+18, yy, esc(c))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// formatRatio prints a ratio with two significant digits at least, so a
// 0.004 does not read as zero.
func formatRatio(x float64) string {
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f", x)
	case x >= 0.1:
		return trimFloat(x)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.*f", 1-int(math.Floor(math.Log10(x))), x), "0"), ".")
	}
}

func trimFloat(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Document writes a whole Markdown page: the machine, the tables, the chart
// (svgRef, the SVG's path relative to the page; none if empty), the notes,
// any failures and how to rerun the run.
func (r *Report) Document(w io.Writer, svgRef string) {
	m := r.Machine
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Written by `offload bench` on %s; do not edit by hand, rerun it.\n\n", m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "## Machine\n\n")
	fmt.Fprintf(w, "- CPU: %s, %d logical cores (%s)\n", m.CPU, m.Cores, m.Arch)
	fmt.Fprintf(w, "- Linux %s\n", m.Kernel)
	fmt.Fprintf(w, "- %s\n\n", m.GoVersion)
	fmt.Fprintf(w, "## Results\n\n")
	r.Markdown(w)
	if svgRef != "" {
		fmt.Fprintf(w, "\n![each configuration as a ratio to %s](%s)\n", mdEscape(r.Baseline), svgRef)
	}
	if len(r.LinkRates) > 0 {
		fmt.Fprintf(w, "\n## Link packet rates\n\n")
		r.LinkRateMarkdown(w)
		if len(r.LinkRateNotes) > 0 {
			fmt.Fprintln(w)
			for _, n := range r.LinkRateNotes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
	if len(r.Aggregation) > 0 {
		fmt.Fprintf(w, "\n## Receive aggregation on and off\n\n")
		r.AggregationMarkdown(w)
		if len(r.AggregationNotes) > 0 {
			fmt.Fprintln(w)
			for _, n := range r.AggregationNotes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\n## How to read it\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(w, "\n## Failures\n\n")
		for _, s := range f {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
	fmt.Fprintf(w, "\n## Settings\n\n")
	keys := make([]string, 0, len(r.Settings))
	for k := range r.Settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "- %s: %s\n", k, trimFloat(r.Settings[k]))
	}
	fmt.Fprintf(w, "\n## How to rerun\n\n")
	fmt.Fprintf(w, "As root (it builds network namespaces with 198.18.0.0/15 addresses and removes them afterwards):\n\n")
	fmt.Fprintf(w, "```\n%s\n```\n", r.Command)
	fmt.Fprintf(w, "\n`--quick` takes under two minutes on a 2-core machine, the full run under fifteen. Every number is also in the JSON file (`--json`).\n")
}

// Median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
