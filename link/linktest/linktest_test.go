package linktest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"offload/link"
	"offload/link/pipe"
	"offload/pkt"
)

// broken wraps a pipe end and breaks one rule of the Device contract.
type broken struct {
	*pipe.End
	kind string
}

func (d broken) Send(q int, batch *pkt.Batch) (int, error) {
	if d.kind == "send-keeps-frames" && batch.Len() > 1 {
		// Takes only the first frame and leaves the rest with the caller.
		first := pkt.NewBatch(1)
		first.Add(batch.At(0))
		batch.Drop(1)
		return d.End.Send(q, first)
	}
	return d.End.Send(q, batch)
}

func (d broken) Recv(q int, batch *pkt.Batch) (int, error) {
	n, err := d.End.Recv(q, batch)
	if d.kind == "recv-reorders" && n >= 2 {
		b := batch.Buffers()
		b[len(b)-1], b[len(b)-2] = b[len(b)-2], b[len(b)-1]
	}
	return n, err
}

func (d broken) Wake(q int) {
	if d.kind != "wake-lost" {
		d.End.Wake(q)
	}
}

func (d broken) Wait(q int, timeout time.Duration) error {
	err := d.End.Wait(q, timeout)
	if d.kind == "wait-ignores-close" && err == link.ErrClosed {
		time.Sleep(time.Millisecond)
		return nil
	}
	return err
}

func (d broken) Close() error {
	if d.kind == "close-keeps-frames" {
		return nil // frames queued towards it are never released
	}
	return d.End.Close()
}

const brokenEnv = "LINKTEST_BROKEN_DEVICE"

// TestSuiteCatchesBrokenDevices runs the suite against devices that each break
// one rule, in a child process, and checks the suite fails where it should.
func TestSuiteCatchesBrokenDevices(t *testing.T) {
	if kind := os.Getenv(brokenEnv); kind != "" {
		TestDevice(t, func(t *testing.T) (link.Device, link.Device) {
			a, b := pipe.New(pipe.Config{})
			return broken{a, kind}, broken{b, kind}
		})
		return
	}
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	cases := map[string]string{
		"send-keeps-frames":  "SendEmptiesBatchAndTakesEveryFrame",
		"recv-reorders":      "FramesArriveIntactAndInOrder",
		"wake-lost":          "WakeBeforeWaitIsRemembered",
		"wait-ignores-close": "CloseEndsBlockedWait",
		"close-keeps-frames": "ClosedDeviceRefusesAndReleases",
	}
	for kind, subtest := range cases {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // two of them run into the suite's timeouts
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesBrokenDevices$/^"+subtest+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+kind)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a device whose %s; output:\n%s", kind, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestSuiteCatchesBrokenDevices/"+subtest) {
				t.Fatalf("the suite failed, but not in %s:\n%s", subtest, out)
			}
		})
	}
}

// TestSuitePassesACorrectDevice pins the control: the same wrapper, unbroken.
func TestSuitePassesACorrectDevice(t *testing.T) {
	TestDevice(t, func(t *testing.T) (link.Device, link.Device) {
		a, b := pipe.New(pipe.Config{})
		return broken{a, "none"}, broken{b, "none"}
	})
}
