package recordings

import "time"

// Clock is the time a Player plays by; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives after d and a function that
	// stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer is time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
