//go:build linux

package afxdp_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/asm"

	"offload/internal/netns"
	"offload/internal/sys"
	"offload/link/afxdp"
)

// TestVerifierRefusalIsUnavailableNotAPrivilegeProblem: a program the
// kernel's verifier refuses (as an older verifier may refuse ours) makes
// AF_XDP unavailable, so link/choose falls back, with ErrProgram and the
// verifier's reason on one line; it is not reported as missing privileges
// although the verifier answers EACCES.
func TestVerifierRefusalIsUnavailableNotAPrivilegeProblem(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "xverif", DisableIPv6: true})
	cfg := afxdp.WithProgram(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}},
		func(insns asm.Instructions) asm.Instructions {
			// Reading a register nothing wrote: every verifier refuses it.
			return append(asm.Instructions{asm.Mov.Reg(asm.R0, asm.R7)}, insns...)
		})
	d, err := afxdp.Open(cfg)
	if err == nil {
		d.Close()
		t.Fatal("a program reading an unset register was loaded")
	}
	t.Log(err)
	if !errors.Is(err, afxdp.ErrProgram) || !errors.Is(err, afxdp.ErrUnavailable) || errors.Is(err, afxdp.ErrNotPrivileged) ||
		strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "R7") {
		t.Fatalf("verifier refusal: %q, want ErrProgram and ErrUnavailable (not ErrNotPrivileged), the verifier's reason, one line", err)
	}
	if xdpAttached(t, p.B, p.IfB) {
		t.Fatal("a failed Open left a program attached")
	}
}

// TestBindRefusedAfterRetriesIsUnavailable: when another socket holds the
// interface's queue and does not let go, Open gives up after its retries
// with ErrBind and ErrUnavailable.
func TestBindRefusedAfterRetriesIsUnavailable(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "xbind", DisableIPv6: true})
	// Someone else's AF_XDP socket on queue 0, with no program of its own.
	var fd int
	var umem []byte
	err := p.B.Run(func() (err error) {
		if fd, err = sys.XDPSocket(); err != nil {
			return err
		}
		if umem, err = sys.AllocUMEM(64*4096, false); err != nil {
			return err
		}
		if err = sys.XDPRegisterUMEM(fd, umem, 4096, 0); err != nil {
			return err
		}
		for _, r := range []int{sys.XDP_UMEM_FILL_RING, sys.XDP_UMEM_COMPLETION_RING, sys.XDP_RX_RING} {
			if err = sys.XDPSetRingSize(fd, r, 32); err != nil {
				return err
			}
		}
		return sys.XDPBind(fd, p.IndexB, 0, sys.XDP_COPY)
	})
	if fd > 0 {
		defer sys.Close(fd)
	}
	if umem != nil {
		defer sys.Munmap(umem)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := afxdp.Open(afxdp.Config{Interface: p.IfB, Netns: p.B.Path(), Addrs: []netip.Addr{ourAddr}})
	if err == nil {
		d.Close()
		t.Fatal("bound a queue another socket holds")
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, afxdp.ErrBind) || !errors.Is(err, afxdp.ErrUnavailable) || !errors.Is(err, sys.EBUSY) {
		t.Fatalf("queue held: %v, want ErrBind, ErrUnavailable and EBUSY", err)
	}
	if xdpAttached(t, p.B, p.IfB) {
		t.Fatal("a failed Open left a program attached")
	}
}

// memlockEnv carries "namespace,interface" to TestMemlockChild.
const memlockEnv = "OFFLOAD_AFXDP_MEMLOCK_CHILD"

// TestMemlockChild is the child of
// TestUMEMOverMemlockLimitIsUnavailableWithAdvice: without CAP_IPC_LOCK and
// with RLIMIT_MEMLOCK at 4 MiB it opens a device whose UMEM needs 12 MiB.
func TestMemlockChild(t *testing.T) {
	spec := os.Getenv(memlockEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestUMEMOverMemlockLimitIsUnavailableWithAdvice")
	}
	ns, ifname, _ := strings.Cut(spec, ",")
	if err := sys.SetMemlockLimit(4 << 20); err != nil {
		fmt.Println("ERROR", err)
		return
	}
	d, err := afxdp.Open(afxdp.Config{Interface: ifname, Netns: ns, Addrs: []netip.Addr{ourAddr}})
	if err == nil {
		d.Close()
		fmt.Println("OPENED")
		return
	}
	fmt.Printf("RESULT %v %v %v %s\n", errors.Is(err, afxdp.ErrLockedMemory), errors.Is(err, afxdp.ErrUnavailable),
		errors.Is(err, afxdp.ErrNotPrivileged), strings.ReplaceAll(err.Error(), "\n", `\n`))
}

// TestUMEMOverMemlockLimitIsUnavailableWithAdvice: a process without
// CAP_IPC_LOCK whose RLIMIT_MEMLOCK is smaller than a UMEM gets ENOBUFS
// from the kernel when it registers the UMEM; Open reports ErrLockedMemory
// and ErrUnavailable (so link/choose falls back) with advice naming
// RLIMIT_MEMLOCK and CAP_IPC_LOCK.
func TestUMEMOverMemlockLimitIsUnavailableWithAdvice(t *testing.T) {
	p := netns.NewPair(t, netns.PairConfig{Name: "xmemlock", DisableIPv6: true})
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemlockChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), memlockEnv+"="+p.B.Path()+","+p.IfB)
	var keep []int
	for c := 0; c <= 63; c++ {
		if c != sys.CAP_IPC_LOCK {
			keep = append(keep, c)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	// Started from a throwaway thread whose bounding set lacks CAP_IPC_LOCK:
	// the child, root otherwise, has every capability but that one.
	if err := p.B.Run(func() error {
		if err := sys.DropBoundingSet(keep...); err != nil {
			return err
		}
		return cmd.Start()
	}); err != nil {
		t.Fatal(err)
	}
	var result string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "ERROR") || l == "OPENED" {
			t.Error(l)
		}
		if r, ok := strings.CutPrefix(l, "RESULT "); ok {
			result = r
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	t.Log(result)
	if !strings.HasPrefix(result, "true true false ") || !strings.Contains(result, "RLIMIT_MEMLOCK") ||
		!strings.Contains(result, "CAP_IPC_LOCK") || !strings.Contains(result, "no buffer space") {
		t.Fatalf("UMEM over the memlock limit: %q, want ErrLockedMemory, ErrUnavailable, ENOBUFS and advice", result)
	}
}
