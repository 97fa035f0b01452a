//go:build linux

package interop

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"offload/internal/netns"
)

// TestMain fails the run if a namespace this test process created outlives
// its tests: every rig must remove what it built, also when its test fails.
func TestMain(m *testing.M) {
	code := m.Run()
	if left := ownNamespaces(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// ownNamespaces lists the namespaces under netns.RunDir named as this
// process's (offl-<pid>-...).
func ownNamespaces() []string {
	ents, _ := os.ReadDir(netns.RunDir)
	prefix := fmt.Sprintf("%s%d-", netns.Prefix, os.Getpid())
	var own []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			own = append(own, e.Name())
		}
	}
	return own
}
