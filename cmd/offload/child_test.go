package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the offload binary when a test
// starts a child program (see child.go).
func TestMain(m *testing.M) {
	runChildIfAsked()
	os.Exit(m.Run())
}
