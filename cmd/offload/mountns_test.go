//go:build linux

package main

import "syscall"

// newMountNamespace starts a child process in a mount namespace of its own.
func newMountNamespace() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
}

// hideTunDevice, run in a private mount namespace, covers /dev/net with an
// empty tmpfs so /dev/net/tun is missing there (and only there).
func hideTunDevice() error {
	// Stop our mounts from propagating back to the machine's namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return err
	}
	return syscall.Mount("tmpfs", "/dev/net", "tmpfs", 0, "size=4k")
}
