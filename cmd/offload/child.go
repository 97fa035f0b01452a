package main

import (
	"fmt"
	"os"
	"os/exec"

	"offload/internal/netns"
)

// Some measurements need a program of their own, for example a kernel-socket
// sender whose CPU time must not be counted as offload's, or the client half
// of 100,000 idle connections whose memory must not be counted as the
// server's. Such a child is this same binary (or, under go test, the test
// binary: TestMain dispatches the same way) started with childEnv naming the
// function to run in place of the usual commands.
const childEnv = "OFFLOAD_BENCH_CHILD"

// children maps a child's name to its body; files register theirs in init.
// A child's error is printed and ends it with status 1.
var children = map[string]func(args []string) error{}

// runChildIfAsked runs the child childEnv names, if any, and exits; with
// childEnv unset it returns.
func runChildIfAsked() {
	name, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	f := children[name]
	if f == nil {
		fmt.Fprintf(os.Stderr, "offload: %s=%q names no child program\n", childEnv, name)
		os.Exit(2)
	}
	if err := f(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "offload child %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// childCommand prepares the child called name, with args, to run inside h's
// network namespace, or in this process's if h is nil.
func childCommand(h *netns.Host, name string, args ...string) (*exec.Cmd, error) {
	if children[name] == nil {
		return nil, fmt.Errorf("no child program %q", name)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start %s: %w", name, err)
	}
	var cmd *exec.Cmd
	if h != nil {
		cmd = h.Command(exe, args...)
	} else {
		cmd = exec.Command(exe, args...)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd, nil
}
