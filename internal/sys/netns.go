//go:build linux

package sys

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunInNetns runs f on a fresh OS thread that has joined the network namespace
// bound at path (for example /run/netns/NAME, or /proc/PID/ns/net) and returns
// f's error. Sockets, TAP devices and netlink handles that f opens belong to that
// namespace for their whole life, and stay usable from any goroutine afterwards.
//
// The thread is locked to f's goroutine and never unlocked, so the Go runtime
// discards it when f returns: no other goroutine can ever run on a thread left in
// the namespace. Goroutines that f starts run on other threads, in the original
// namespace. A panic in f is re-raised in the caller's goroutine.
func RunInNetns(path string, f func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked: the thread dies with us
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{panicked: true, panicVal: p}
			}
			done <- r
		}()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			r.err = fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			r.err = fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		r.err = f()
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// CreateNetns makes a new network namespace and keeps it alive by bind-mounting
// it at path (the same layout as `ip netns add`, so `ip netns list` and
// `ip netns exec` see it). The directory of path must exist. The namespace lives
// until DeleteNetns(path) and until the last socket or process in it is gone.
func CreateNetns(path string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends up in the new namespace
		done <- createNetnsLocked(path)
	}()
	return <-done
}

func createNetnsLocked(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace mount point: %w", err)
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		os.Remove(path)
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("bind-mount network namespace at %s: %w", path, err)
	}
	return nil
}

// DeleteNetns unmounts and removes a namespace created by CreateNetns (or by
// `ip netns add`). The kernel frees the namespace, and the veth pairs in it, once
// nothing else holds it.
func DeleteNetns(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && err != unix.EINVAL && err != unix.ENOENT { // EINVAL: not mounted
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// ProcessAlive reports whether a process with this pid exists (signal 0).
func ProcessAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// FileInode returns the inode number of path (a namespace's identity when path
// is a namespace file: /proc/PID/ns/net links read "net:[inode]").
func FileInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// KillProcess sends SIGKILL to pid.
func KillProcess(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
