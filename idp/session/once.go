package session

import (
	"encoding/binary"
	"errors"
	"time"
)

// Single-use values carry their expiry in front of the value, so that both stores enforce it
// from the same clock as sessions, not only through the backing store's own timers.

func encodeOnce(expires time.Time, value []byte) []byte {
	b := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(expires.UnixNano()))
	return append(b, value...)
}

// decodeOnce returns the value if b is well formed and not expired at now.
func decodeOnce(b []byte, now time.Time) ([]byte, bool) {
	if len(b) < 8 {
		return nil, false
	}
	expires := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	if !now.Before(expires) {
		return nil, false
	}
	return append([]byte{}, b[8:]...), true
}

func checkOnce(key string, ttl time.Duration) error {
	if key == "" {
		return errors.New("session: put once: empty key")
	}
	if ttl <= 0 {
		return errors.New("session: put once: ttl must be positive")
	}
	return nil
}
