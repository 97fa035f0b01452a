//go:build linux

package sys

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CAP_NET_ADMIN and CAP_LAST_CAP's bound for DropBoundingSet.
const (
	CAP_NET_ADMIN = unix.CAP_NET_ADMIN
	capMax        = 63
)

// DropBoundingSet removes every capability but keep from the calling
// thread's bounding set (PR_CAPBSET_DROP; needs CAP_SETPCAP). Programs this
// thread then starts as root get exactly keep: a root process's permitted set
// after execve is its bounding set. It is meant for a throwaway thread, such
// as the one RunInNetns runs f on and discards: the rest of the process keeps
// its capabilities.
func DropBoundingSet(keep ...int) error {
	for c := 0; c <= capMax; c++ {
		kept := false
		for _, k := range keep {
			kept = kept || k == c
		}
		if kept {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL {
				break // past the kernel's last capability
			}
			return fmt.Errorf("prctl PR_CAPBSET_DROP %d: %w", c, err)
		}
	}
	return nil
}

// CAP_IPC_LOCK lets a process lock memory beyond RLIMIT_MEMLOCK.
const CAP_IPC_LOCK = unix.CAP_IPC_LOCK

// SetMemlockLimit sets the process's RLIMIT_MEMLOCK (soft and hard) to bytes.
// Lowering needs no privilege.
func SetMemlockLimit(bytes uint64) error {
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: bytes, Max: bytes}); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_MEMLOCK %d: %w", bytes, err)
	}
	return nil
}
