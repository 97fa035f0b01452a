//go:build linux

package sys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRingLayoutMatchesKernelABI(t *testing.T) {
	// linux/if_packet.h: tpacket_block_desc is 8 + tpacket_hdr_v1 (40) bytes;
	// tpacket3_hdr puts tp_mac at 24 and the VLAN fields after tp_rxhash.
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"block_status", TpBlockStatus, 8}, {"num_pkts", TpBlockNumPkts, 12},
		{"offset_to_first_pkt", TpBlockFirstPkt, 16}, {"block desc", TpBlockDescLen, 48},
		{"tp_snaplen", Tp3Snaplen, 12}, {"tp_len", Tp3Len, 16}, {"tp_status", Tp3Status, 20},
		{"tp_mac", Tp3Mac, 24}, {"tp_vlan_tci", Tp3VlanTCI, 32}, {"tp_vlan_tpid", Tp3VlanTPID, 36},
		{"tpacket3_hdr", Tp3HdrLen, 48},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestEventWakesPollAndDrainResetsIt(t *testing.T) {
	e, err := NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fds := []PollFd{{Fd: int32(e.FD()), Events: POLLIN}}
	if n, _ := Poll(fds, 0); n != 0 {
		t.Fatal("fresh eventfd is readable")
	}
	e.Signal()
	e.Signal()
	if n, _ := Poll(fds, 1000); n != 1 {
		t.Fatal("signalled eventfd not readable")
	}
	e.Drain()
	if n, _ := Poll(fds, 0); n != 0 {
		t.Fatal("drained eventfd still readable")
	}
	go func() { time.Sleep(20 * time.Millisecond); e.Signal() }()
	start := time.Now()
	if n, _ := Poll(fds, 5000); n != 1 || time.Since(start) > 2*time.Second {
		t.Fatal("Signal from another goroutine did not end Poll")
	}
	e.Drain()
	if raceEnabled {
		return // the race detector allocates
	}
	if n := testing.AllocsPerRun(100, func() {
		e.Signal()
		Poll(fds, 0)
		e.Drain()
	}); n != 0 {
		t.Fatalf("%v allocations per signal/poll/drain", n)
	}
}

func TestRunInNetnsEntersOnlyForTheFunction(t *testing.T) {
	if !HasCapability(CapSysAdmin) {
		t.Skip("needs CAP_SYS_ADMIN (root) to create a network namespace")
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := CreateNetns(path); err != nil {
		t.Fatal(err)
	}
	defer DeleteNetns(path)
	outside, _ := os.Readlink("/proc/thread-self/ns/net")
	var inside string
	if err := RunInNetns(path, func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var st os.FileInfo
	if st, _ = os.Stat(path); st == nil {
		t.Fatal("namespace file gone")
	}
	if inside == outside || inside == "" {
		t.Fatalf("inside %q, outside %q", inside, outside)
	}
	for range 20 { // the goroutine may land on any thread: none may be left inside
		if now, _ := os.Readlink("/proc/thread-self/ns/net"); now != outside {
			t.Fatalf("a thread stayed in the namespace: %s", now)
		}
		time.Sleep(time.Millisecond)
	}
	if err := RunInNetns(filepath.Join(t.TempDir(), "missing"), func() error { return nil }); err == nil {
		t.Fatal("entering a missing namespace succeeded")
	}
	if err := DeleteNetns(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("namespace file still there: %v", err)
	}
}
