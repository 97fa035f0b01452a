// Command offload runs the offload stack: demos, servers, benchmarks and tools.
//
//	offload demo     a transfer and latency test (in memory; against the kernel as root)
//	offload serve    a server on the stack attached to a TAP, AF_XDP or AF_PACKET link
//	offload client   bulk transfers or request/response from the stack to a server
//	offload bench    every link against the kernel and gVisor: tables, JSON, a chart, docs/BENCHMARKS.md
//	offload help     this list
package main

import (
	"fmt"
	"os"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

func commands() []command {
	return []command{
		{"bench", "offload against the kernel and gVisor in namespaces over TAP, AF_PACKET and AF_XDP: table, JSON, chart, docs/BENCHMARKS.md (root)", runBench},
		{"demo", "bulk transfer and request/response latency between two stacks, side by side with the kernel", runDemo},
		{"serve", "run a discard, echo, HTTP or sink server on the stack attached to an interface", runServe},
		{"client", "bulk transfers or request/response from the stack attached to an interface to a server", runClient},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: offload <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'offload <command> -h' for a command's flags.\n")
}

func main() {
	runChildIfAsked()
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "offload %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "offload: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}
