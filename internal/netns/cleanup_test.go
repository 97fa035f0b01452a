//go:build linux

package netns

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cleanupChildEnv tells TestCleanupProofChild how to end: "fail", "panic" or
// "crash" (a panic on another goroutine, which ends the process without
// running any test's cleanups).
const cleanupChildEnv = "OFFLOAD_NETNS_CLEANUP_CHILD"

// TestCleanupProofChild is the child process of the cleanup tests below: it
// creates a pair and a host, prints their names, and ends as told.
func TestCleanupProofChild(t *testing.T) {
	mode := os.Getenv(cleanupChildEnv)
	if mode == "" {
		t.Skip("runs only as the child of the TestNamespacesAreRemoved... tests")
	}
	p := NewPair(t, PairConfig{Name: "child", AddrA: netip.MustParsePrefix("198.18.0.1/24"), DisableIPv6: true})
	h := NewHost(t, "childhost")
	// A process in a namespace must not keep it alive either.
	sleeper := h.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CREATED %s %s %s\n", p.A.Name(), p.B.Name(), h.Name())
	switch mode {
	case "fail":
		t.Fatal("failing on purpose")
	case "panic":
		panic("panicking on purpose")
	case "crash":
		go func() { panic("crashing on purpose") }()
		time.Sleep(time.Minute)
	}
	t.Fatalf("unknown %s=%q", cleanupChildEnv, mode)
}

// runCleanupChild runs TestCleanupProofChild in a process of its own, which
// must fail, and returns its pid and the names of the namespaces it created.
func runCleanupChild(t *testing.T, mode string) (int, []string, string) {
	t.Helper()
	Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanupProofChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), cleanupChildEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child (%s) passed:\n%s", mode, out)
	}
	m := regexp.MustCompile(`CREATED (\S+) (\S+) (\S+)\n`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the child (%s) created nothing: %v\n%s", mode, err, out)
	}
	pid := cmd.Process.Pid
	names := []string{string(m[1]), string(m[2]), string(m[3])}
	for _, n := range names {
		if !strings.HasPrefix(n, fmt.Sprintf("%s%d-", Prefix, pid)) {
			t.Fatalf("namespace %s does not carry the child's pid %d", n, pid)
		}
	}
	return pid, names, string(out)
}

// TestNamespacesAreRemovedWhenATestFails: a test that fails after creating
// a pair and a host (with a process inside) leaves nothing behind.
func TestNamespacesAreRemovedWhenATestFails(t *testing.T) {
	pid, names, out := runCleanupChild(t, "fail")
	if !strings.Contains(out, "failing on purpose") {
		t.Fatalf("the child did not fail as told:\n%s", out)
	}
	if left := namespacesOf(pid); len(left) > 0 {
		t.Fatalf("namespaces of the failed test (pid %d) remain: %v (created %v)", pid, left, names)
	}
}

// TestNamespacesAreRemovedWhenATestPanics: the testing package runs a test's
// cleanups when it panics, so a panicking test leaves nothing behind either.
func TestNamespacesAreRemovedWhenATestPanics(t *testing.T) {
	pid, names, out := runCleanupChild(t, "panic")
	if !strings.Contains(out, "panic: panicking on purpose") {
		t.Fatalf("the child did not panic as told:\n%s", out)
	}
	if left := namespacesOf(pid); len(left) > 0 {
		t.Fatalf("namespaces of the panicked test (pid %d) remain: %v (created %v)", pid, left, names)
	}
}

// TestLeftoversOfACrashedRunAreRemovedByTheNext: a panic on another
// goroutine kills the process before any cleanup runs, so its namespaces
// (and the process inside one) outlive it; the next run's RemoveLeftovers
// (the first Create of a process calls it) removes them.
func TestLeftoversOfACrashedRunAreRemovedByTheNext(t *testing.T) {
	pid, names, out := runCleanupChild(t, "crash")
	if !strings.Contains(out, "panic: crashing on purpose") {
		t.Fatalf("the child did not crash as told:\n%s", out)
	}
	t.Cleanup(func() { // should RemoveLeftovers fail, do not leave them to the next run
		for _, n := range namespacesOf(pid) {
			p := RunDir + "/" + n
			killProcessesIn(p)
			os.Remove(p)
		}
	})
	if left := namespacesOf(pid); len(left) != len(names) {
		t.Fatalf("after the crash %v remain, want all of %v: the test proves nothing", left, names)
	}
	if err := RemoveLeftovers(); err != nil {
		t.Fatal(err)
	}
	if left := namespacesOf(pid); len(left) > 0 {
		t.Fatalf("RemoveLeftovers kept the crashed run's %v", left)
	}
}
