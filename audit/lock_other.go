//go:build !unix

package audit

import "os"

// lockDir only creates the lock file where flock is not available: one gate per spool
// directory is then up to the operator.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
