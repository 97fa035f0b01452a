//go:build linux

package netns

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"offload/internal/sys"
)

// Child is a test binary re-run as a child process inside a Host with a
// reduced set of capabilities, talking a line protocol: it prints lines
// (Next reads them by prefix; a line starting "ERROR" fails the test) and
// reads its standard input until Stop closes it.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// StartChildWithCaps runs this test binary's test named test (a -test.run
// pattern is built from it) as root inside h, its bounding set holding only
// caps (sys.CAP_*): born in h's namespace, since without CAP_SYS_ADMIN it
// could not enter it itself. env is added to the child's environment. The
// child is killed and reaped when the test ends.
func StartChildWithCaps(t testing.TB, h *Host, test string, env []string, caps ...int) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The bounding set is dropped on a thread of ours that then starts the
	// child; Run ends that thread, so the drop does not outlive the call.
	if err := h.Run(func() error {
		if err := sys.DropBoundingSet(caps...); err != nil {
			return err
		}
		return cmd.Start()
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := &Child{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// Next returns the rest of the child's next line that starts with prefix,
// skipping others, and fails the test if the child reports an ERROR line,
// ends first, or prints no such line within timeout.
func (c *Child) Next(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("the child ended before %q", prefix)
			}
			if strings.HasPrefix(l, "ERROR") {
				t.Fatal(l)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		case <-deadline:
			t.Fatalf("no %q from the child", prefix)
		}
	}
}

// Stop closes the child's standard input: its signal to finish up.
func (c *Child) Stop() { c.stdin.Close() }
