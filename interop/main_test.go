//go:build linux

package interop

import (
	"testing"

	"offload/internal/netns"
)

// TestMain fails the run if a namespace this test process created outlives
// its tests: every rig must remove what it built, also when its test fails.
func TestMain(m *testing.M) { netns.RunCheckingLeftovers(m) }
