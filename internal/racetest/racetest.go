// Package racetest tells a test whether it runs under the race detector, whose
// instrumentation allocates now and then: allocation counts are only meaningful without it.
// .ci/run runs the allocation tests (named *Alloc*) a second time without -race.
package racetest

import "testing"

// SkipAllocationCheck skips t under the race detector.
func SkipAllocationCheck(t testing.TB) {
	t.Helper()
	if Enabled {
		t.Skip("allocation counts are not meaningful under the race detector; .ci/run checks them without it")
	}
}
