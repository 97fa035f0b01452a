//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"offload/internal/netns"
)

// demoRunEnv, set in a re-run of this test binary, makes the named demo test
// run the demo (with the arguments in demoArgsEnv, space-separated) instead
// of checking one.
const (
	demoRunEnv  = "OFFLOAD_TEST_DEMO_RUN"
	demoArgsEnv = "OFFLOAD_TEST_DEMO_ARGS"
)

// tinyDemo are demo arguments that finish in seconds.
var tinyDemo = []string{"-size", "1048576", "-requests", "200"}

// runDemoIfAsked runs the demo and reports true when this process is the
// re-run demoCommand started for test.
func runDemoIfAsked(test string) bool {
	if os.Getenv(demoRunEnv) != test {
		return false
	}
	err := runDemo(strings.Fields(os.Getenv(demoArgsEnv)))
	fmt.Printf("DEMO RESULT: %v\n", err)
	return true
}

// demoCommand re-runs this test binary to run the demo in a process of its
// own (so its namespaces carry that process's pid), with args.
func demoCommand(test string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), demoRunEnv+"="+test, demoArgsEnv+"="+strings.Join(args, " "))
	return cmd
}

// namespacesOf lists the namespaces under /run/netns whose name says pid
// created them (netns names them offl-<pid>-<seq>-<name>).
func namespacesOf(pid int) []string {
	ents, _ := os.ReadDir(netns.RunDir)
	var own []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", netns.Prefix, pid)) {
			own = append(own, e.Name())
		}
	}
	return own
}

// TestDemoAsRootPrintsOffloadAndKernelRowsAndLeavesNothing runs `offload
// demo` as root with tiny sizes in a process of its own: the table must have
// the kernel ↔ kernel row and every offload ↔ kernel row, each with numbers
// and equal digests, and no namespace of that process may remain.
func TestDemoAsRootPrintsOffloadAndKernelRowsAndLeavesNothing(t *testing.T) {
	const name = "TestDemoAsRootPrintsOffloadAndKernelRowsAndLeavesNothing"
	if runDemoIfAsked(name) {
		return
	}
	netns.Require(t)
	cmd := demoCommand(name, tinyDemo...)
	out, err := cmd.CombinedOutput()
	t.Logf("offload demo %s:\n%s", strings.Join(tinyDemo, " "), out)
	if err != nil {
		t.Fatalf("demo process: %v", err)
	}
	if !strings.Contains(string(out), "DEMO RESULT: <nil>") {
		t.Errorf("the demo failed")
	}
	if strings.Contains(string(out), "Not root") {
		t.Errorf("the demo as root fell back to the in-memory demo")
	}
	num := `\d+\.\d\d`
	us := `\d+\.\d µs`
	row := func(path string) string {
		return `\n *` + regexp.QuoteMeta(path) + ` +` + num + ` +` + num + ` +equal +` + us + ` +` + us + ` *\n`
	}
	for _, re := range []string{
		`\n +path +to kernel Gbit/s +from kernel Gbit/s +SHA-256 +64-byte RTT p50 +p99 *\n`,
		row("kernel ↔ kernel (veth)"),
		row("offload ↔ kernel (veth, AF_PACKET)"),
		row("offload ↔ kernel (TAP, vnet hdr + TSO)"),
		`\n *offload ↔ kernel \(veth, (AF_XDP|AF_PACKET|TAP)\) +` + num + ` +` + num + ` +equal +` + us + ` +` + us + ` *\n`,
	} {
		if !regexp.MustCompile(re).MatchString(string(out)) {
			t.Errorf("demo output does not match %q", re)
		}
	}
	if left := namespacesOf(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("the demo (pid %d) left namespaces behind: %v", cmd.Process.Pid, left)
	}
}

// TestDemoInterruptedRemovesItsNamespaces stops a long demo with SIGINT and
// with SIGTERM while it measures: it must say so, remove the namespaces it
// created and exit with 128+signal.
func TestDemoInterruptedRemovesItsNamespaces(t *testing.T) {
	const name = "TestDemoInterruptedRemovesItsNamespaces"
	if runDemoIfAsked(name) {
		return
	}
	netns.Require(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// Long enough to be in the middle of it when the signal comes.
			cmd := demoCommand(name, "-size", fmt.Sprint(8<<30), "-requests", "1000000")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := false
			defer func() {
				if !exited {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			measuring := make(chan struct{})
			var seen syncBuffer
			go func() {
				sc := bufio.NewScanner(stdout)
				signalled := false
				for sc.Scan() {
					fmt.Fprintln(&seen, sc.Text())
					if !signalled && strings.Contains(sc.Text(), "kernel ↔ kernel (veth)") {
						signalled = true
						close(measuring)
					}
				}
				io.Copy(io.Discard, stdout)
			}()
			select {
			case <-measuring:
			case <-time.After(30 * time.Second):
				t.Fatalf("the demo did not start measuring:\n%s%s", &seen, &stderr)
			}
			pid := cmd.Process.Pid
			if len(namespacesOf(pid)) == 0 {
				t.Fatalf("no namespace of the demo (pid %d) while it measures: the test would prove nothing", pid)
			}
			time.Sleep(200 * time.Millisecond) // into the transfer
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
				exited = true
			case <-time.After(20 * time.Second):
				t.Fatalf("the demo did not exit within 20 s of %v:\n%s%s", sig, &seen, &stderr)
			}
			t.Logf("after %v: %v\n%s%s", sig, err, &seen, &stderr)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Errorf("exit: %v, want status %d", err, 128+int(sig))
			}
			if !strings.Contains(stderr.String(), "removing the network namespaces it created") {
				t.Errorf("the demo did not say what it does on %v", sig)
			}
			if left := namespacesOf(pid); len(left) > 0 {
				t.Errorf("the demo (pid %d) left namespaces behind after %v: %v", pid, sig, left)
			}
		})
	}
}

// inMemoryTable matches the in-memory demo's table: two offload stacks over
// link/pipe and the kernel over loopback, each with numbers and equal digests.
var inMemoryTable = regexp.MustCompile(`\n +path +bulk Gbit/s +SHA-256 +64-byte RTT p50 +p99 *\n` +
	` *offload ↔ offload \(link/pipe, MTU 1500, TSO\) +\d+\.\d\d +equal +\d+\.\d µs +\d+\.\d µs *\n` +
	` *kernel ↔ kernel \(loopback, for scale\) +\d+\.\d\d +equal +\d+\.\d µs +\d+\.\d µs *\n`)

// notRootLine matches the one line the demo prints when it lacks privileges.
func notRootLine(missing string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^Not root \([^\n]*` + regexp.QuoteMeta(missing) + `[^\n]*\): running the in-memory demo, two offload stacks over link/pipe\.\n`)
}

// TestDemoAsNobodySaysNotRootThenRunsInMemory runs the demo as the user
// nobody (in a namespace of its own, so its loopback ports meet nothing
// else): one line saying it is not root and what is missing, then the
// in-memory demo's table.
func TestDemoAsNobodySaysNotRootThenRunsInMemory(t *testing.T) {
	const name = "TestDemoAsNobodySaysNotRootThenRunsInMemory"
	if os.Getenv(netns.NobodyEnv) == "1" {
		err := runDemo(tinyDemo)
		fmt.Printf("DEMO RESULT: %v\n", err)
		return
	}
	h := netns.NewHost(t, "demonobody")
	out, err := netns.RunAsNobodyIn(t, h, name)
	t.Logf("offload demo as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, missing := range []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_NET_RAW"} {
		if !notRootLine(missing).Match(out) {
			t.Errorf("no one-line not-root message naming %s", missing)
		}
	}
	if !inMemoryTable.Match(out) || !strings.Contains(string(out), "DEMO RESULT: <nil>") {
		t.Errorf("the in-memory demo's table is missing or it failed")
	}
	if i, j := strings.Index(string(out), "Not root ("), strings.Index(string(out), "offload ↔ offload (link/pipe"); i < 0 || j < i {
		t.Errorf("the not-root line does not come before the table")
	}
}

// TestDemoAsRootWithoutNetRawRunsInMemory: root whose capabilities lack
// CAP_NET_RAW (dropped from the bounding set) cannot open the AF_PACKET and
// AF_XDP sockets the kernel demo uses, so the demo says so in its one line
// and runs in memory.
func TestDemoAsRootWithoutNetRawRunsInMemory(t *testing.T) {
	const name = "TestDemoAsRootWithoutNetRawRunsInMemory"
	if runDemoIfAsked(name) {
		return
	}
	h := netns.NewHost(t, "demonoraw")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("dropping one capability of root needs root")
	}
	cmd := h.Command(setpriv, "--bounding-set", "-net_raw", "--", os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), demoRunEnv+"="+name, demoArgsEnv+"="+strings.Join(tinyDemo, " "))
	out, err := cmd.CombinedOutput()
	t.Logf("offload demo without CAP_NET_RAW:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	if !notRootLine("missing CAP_NET_RAW (AF_PACKET and AF_XDP sockets)").Match(out) {
		t.Errorf("no one-line message naming CAP_NET_RAW alone")
	}
	if !inMemoryTable.Match(out) || !strings.Contains(string(out), "DEMO RESULT: <nil>") {
		t.Errorf("the in-memory demo's table is missing or it failed")
	}
}
