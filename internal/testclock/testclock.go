// Package testclock is a clock that tests move by hand, safe for concurrent use.
package testclock

import (
	"sync"
	"time"
)

// Clock reads the time it was set to, until Advance moves it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// At returns a clock reading t.
func At(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time; pass it where code takes a func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
