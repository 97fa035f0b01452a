//go:build linux

package netns

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// NobodyEnv is set (to 1) in the environment of a test re-run by RunAsNobody.
const NobodyEnv = "OFFLOAD_TEST_AS_NOBODY"

// RunAsNobody re-runs the test named test of the current test binary as the
// unprivileged user nobody (uid/gid 65534) with NobodyEnv=1, and returns its
// combined output. The test checks os.Getenv(NobodyEnv) to know it is the
// unprivileged run. It lets a root test run prove the messages non-root users get.
func RunAsNobody(t testing.TB, test string) ([]byte, error) {
	t.Helper()
	return nobodyCommand(t, test).CombinedOutput()
}

// RunAsNobodyIn is RunAsNobody with the test re-run inside h's network
// namespace, so whatever it does on loopback (fixed ports, say) meets
// nothing else running on the machine.
func RunAsNobodyIn(t testing.TB, h *Host, test string) ([]byte, error) {
	t.Helper()
	cmd := nobodyCommand(t, test)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child starts in the network namespace of the thread that forks it:
	// Run's thread is inside h. (Credential drops every capability at exec,
	// so the child cannot leave h.)
	if err := h.Run(cmd.Start); err != nil {
		return nil, err
	}
	err := cmd.Wait()
	return out.Bytes(), err
}

// nobodyCommand prepares the re-run of test as nobody.
func nobodyCommand(t testing.TB, test string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching to nobody needs root")
	}
	// The test binary sits in a private build directory: copy it somewhere nobody may run it.
	dir, err := os.MkdirTemp("", "offl-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "test.bin")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), NobodyEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
